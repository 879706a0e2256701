import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { createWalSync } from '../../src/db/wal-sync.js';
import { createGroupCommitter, type GroupCommitOptions } from '../../src/ingest/group-commit.js';
import { createIngestStore, type IncomingEvent } from '../../src/store/ingest-store.js';
import { quietFor } from '../eventually.js';
import { runEvents, tempDir } from '../helper.js';

function setup(options: Omit<GroupCommitOptions, 'onCommit'> = {}) {
  const db = openDatabase(join(tempDir(), 'gc.db'));
  migrate(db);
  const commits: number[] = [];
  const committer = createGroupCommitter(createIngestStore(db), {
    onCommit: (committed) => commits.push(committed.length),
    ...options,
  });
  return { db, committer, commits };
}

const item = (e: IncomingEvent['event']): IncomingEvent[] => [{ event: e, address: '127.0.0.1', receivedAt: Date.now() }];

describe('group commit', () => {
  it('commits deliveries that arrive together in one transaction', async () => {
    const { db, committer, commits } = setup();
    const r = runEvents();
    const results = await Promise.all([
      committer.submit(item(r.started())),
      ...Array.from({ length: 20 }, () => committer.submit(item(r.task()))),
    ]);
    expect(results.flat()).toEqual(Array(21).fill('stored'));
    expect(commits).toEqual([21]);
    expect(db.prepare('SELECT tasks_total FROM runs').pluck().get()).toBe(20);
  });

  it('commits one group per turn of the event loop, so other work runs between the groups of a burst', async () => {
    const db = openDatabase(join(tempDir(), 'gc.db'));
    migrate(db);
    const order: string[] = [];
    const committer = createGroupCommitter(createIngestStore(db), {
      maxEvents: 2,
      onCommit: (committed) => {
        order.push(`commit ${committed.length}`);
        // Queued by the first commit, as an accept or a probe would be in that turn.
        if (order.length === 1) setImmediate(() => order.push('other work'));
      },
    });
    const r = runEvents();
    await Promise.all([r.started(), r.task(), r.task(), r.task(), r.task(), r.task()].map((e) => committer.submit(item(e))));
    expect(order).toEqual(['commit 2', 'other work', 'commit 2', 'commit 2']);
  });

  it('waits out the gap between commits to gather a group, but not once the group is full', async () => {
    // A gap far longer than the test: a commit that waited for it would time the test out.
    const { committer, commits } = setup({ minGapMs: 60_000, fullGroup: 4 });
    const r = runEvents();
    // The first commit goes at once: no commit came before it.
    await committer.submit(item(r.started()));
    const waiting = committer.submit(item(r.task()));
    let answered = false;
    void waiting.then(() => {
      answered = true;
    });
    await quietFor(50);
    expect(answered).toBe(false);
    // Three more make the group full: all four are committed together, without the gap.
    const rest = [r.task(), r.task(), r.task()].map((e) => committer.submit(item(e)));
    expect((await Promise.all([waiting, ...rest])).flat()).toEqual(Array(4).fill('stored'));
    expect(commits).toEqual([1, 4]);
  });

  it('drops a delivery whose sender has gone before its write, and writes its neighbours', async () => {
    const { db, committer, commits } = setup();
    const r = runEvents();
    let gone = false;
    const kept = committer.submit(item(r.started()));
    const dropped = committer.submit(item(r.task()), () => gone);
    const also = committer.submit(item(r.task()), () => gone);
    gone = true;
    expect(await kept).toEqual(['stored']);
    expect(await dropped).toBeUndefined();
    expect(await also).toBeUndefined();
    expect(commits).toEqual([1]);
    expect(db.prepare('SELECT count(*) FROM events').pluck().get()).toBe(1);
    // A sender that is still there is written as before.
    expect(await committer.submit(item(r.task()), () => false)).toEqual(['stored']);
  });

  it('isolates a failing delivery from its neighbours', async () => {
    const { committer } = setup();
    const r = runEvents();
    const good = committer.submit(item(r.started()));
    // An event whose data cannot be bound makes its own transaction fail, not the group's.
    const bad = committer.submit(item({ ...r.task(), seq: Number.NaN } as never));
    const also = committer.submit(item(r.task()));
    expect(await good).toEqual(['stored']);
    expect(await also).toEqual(['stored']);
    await expect(bad).rejects.toThrow();
  });

  it('in durable mode answers only after the WAL sync, and refuses if the sync fails', async () => {
    let release!: () => void;
    let calls = 0;
    const { committer } = setup({
      sync: () => {
        calls++;
        return calls === 1
          ? new Promise<void>((r) => (release = r))
          : Promise.reject(Object.assign(new Error('disk gone'), { code: 'EIO' }));
      },
    });
    const r = runEvents();
    let answered = false;
    const first = committer.submit(item(r.started())).then((o) => {
      answered = true;
      return o;
    });
    await quietFor(50);
    expect(answered).toBe(false);
    release();
    expect(await first).toEqual(['stored']);
    await expect(committer.submit(item(r.task()))).rejects.toMatchObject({ kind: 'STORAGE_UNAVAILABLE', cause: { code: 'EIO' } });
  });

  it('fsyncs the real WAL file', async () => {
    const dir = tempDir();
    const db = openDatabase(join(dir, 'w.db'));
    migrate(db);
    const wal = createWalSync(join(dir, 'w.db'));
    await expect(wal.sync()).resolves.toBeUndefined();
    await wal.close();
    db.close();
  });
});
