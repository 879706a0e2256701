/** The highest stored seq of runs this process created: when an event may be a duplicate. */
import { describe, expect, it } from 'vitest';
import { createStoredSeqs } from '../../src/store/stored-seqs.js';
import { runEvents } from '../helper.js';
import { memoryDb, writer } from './memory-db.js';

describe('createStoredSeqs', () => {
  it('knows only runs it began, up to its bound, and only past their highest stored seq', () => {
    const seqs = createStoredSeqs(2);
    expect(seqs.mayHold(1, 0)).toBe(true);
    seqs.begin(1);
    expect(seqs.mayHold(1, 0)).toBe(false);
    seqs.stored(1, 3);
    seqs.stored(1, 2);
    expect([seqs.mayHold(1, 2), seqs.mayHold(1, 3), seqs.mayHold(1, 4)]).toEqual([true, true, false]);
    // A run it did not begin stays unknown, whatever is stored for it.
    seqs.stored(7, 5);
    expect(seqs.mayHold(7, 9)).toBe(true);
    seqs.begin(2);
    seqs.begin(3);
    expect([seqs.mayHold(1, 9), seqs.mayHold(2, 0), seqs.mayHold(3, 0)]).toEqual([true, false, false]);
    // A run begun again (its id reused after a rollback) starts afresh.
    seqs.stored(3, 8);
    seqs.begin(3);
    expect(seqs.mayHold(3, 0)).toBe(false);
  });
});

describe('duplicates of runs this process created', () => {
  it('are still told apart by run, seq and id: within a batch, across writes, out of order and after a rollback', () => {
    const db = memoryDb();
    const { write } = writer(db);
    const r = runEvents();
    const [started, a, b] = [r.started(), r.task('ok'), r.task('changed')];
    expect(write([started, a, a]).outcomes).toEqual(['stored', 'stored', 'duplicate']);
    expect(write([b, a, started]).outcomes).toEqual(['stored', 'duplicate', 'duplicate']);
    // Another id at a stored seq is an event of its own.
    expect(write([{ ...a, event_id: crypto.randomUUID() }]).outcomes).toEqual(['stored']);
    // A write that rolls back stores nothing, and what it tried is not a duplicate afterwards.
    const other = runEvents({ host: { hostname: 'web-02', machine_id: 'b'.repeat(32) } });
    write([other.started()]);
    const c = r.task('ok');
    const claim = { ...other.task('ok'), host: started.host };
    expect(() => write([c, claim])).toThrow(/belongs to another host/);
    expect(write([c]).outcomes).toEqual(['stored']);
    expect(write([c]).outcomes).toEqual(['duplicate']);
    expect(db.prepare('SELECT count(*) FROM events').pluck().get()).toBe(6);
    db.close();
  });
});
