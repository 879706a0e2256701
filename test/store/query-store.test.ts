/** The query store on a real in-memory database: identity lookup, filters, cursors and derived status. */
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { DomainError } from '../../src/errors.js';
import { HOST_RUNS_SHOWN, runsQuerySchema } from '../../src/protocol/api.js';
import { createQueryStore } from '../../src/store/query-store.js';
import { statusParams } from '../../src/store/status-sql.js';

/** The query store with a stale timeout and a fixed or moving clock. */
const queryStore = (db: Db, staleAfterMs: number, clock: () => number) =>
  createQueryStore(db, () => statusParams({ now: clock(), staleAfterMs, expectGraceMs: 900_000, outOfSyncGraceMs: 1_800_000 }));
import { host, runEvents } from '../helper.js';
import { memoryDb, writer } from './memory-db.js';

let db: Db;
afterEach(() => db?.close());

const HOUR = 3600_000;
const base = Date.parse('2026-05-01T00:00:00Z');
const runs = (q: Record<string, string> = {}) => runsQuerySchema.parse(q);

/** 2 hosts × 5 runs an hour apart (alternating), every third failed. */
function history() {
  db = memoryDb();
  const { write } = writer(db);
  const ids: string[] = [];
  const hosts = [
    host({ hostname: 'web-01', machine_id: 'a'.repeat(32), instance_id: 'iid-1', vmid: 101, ips: ['10.1.0.1'] }),
    host({ hostname: 'db-01', machine_id: 'b'.repeat(32), vmid: 102, ips: ['10.1.0.2'] }),
  ];
  for (let i = 0; i < 10; i++) {
    const r = runEvents({ host: hosts[i % 2]!, start: base + i * HOUR });
    ids.push(r.runId);
    write([r.started(), r.task(), r.finished(i % 3 === 0 ? 1 : 0)], base + i * HOUR);
  }
  return { ids, query: queryStore(db, HOUR, () => base + 20 * HOUR) };
}

describe('query store: identities', () => {
  it('finds a host by hostname, machine-id, instance-id, VMID or IP', () => {
    const { query } = history();
    const id = query.findHostId('web-01');
    expect(id).toBeDefined();
    for (const identity of ['a'.repeat(32), 'iid-1', '101', '10.1.0.1']) expect(query.findHostId(identity), identity).toBe(id);
    expect(query.findHostId('10.1.0.2')).not.toBe(id);
    expect(query.findHostId('nobody')).toBeUndefined();
  });

  it('gives a host its latest runs newest first, at most HOST_RUNS_SHOWN', () => {
    db = memoryDb();
    const { write } = writer(db);
    const ids: string[] = [];
    for (let i = 0; i < HOST_RUNS_SHOWN + 5; i++) {
      const r = runEvents({ start: base + i * HOUR });
      ids.push(r.runId);
      write([r.started()], base + i * HOUR);
    }
    const detail = queryStore(db, 100 * HOUR, () => base).hostDetail('web-01');
    expect(detail?.runs.map((r) => r.run_id)).toEqual(ids.reverse().slice(0, HOST_RUNS_SHOWN));
    expect(detail?.latest_run?.run_id).toBe(ids[0]);
  });
});

describe('query store: runs', () => {
  it('pages through every run newest first with cursors, none twice', () => {
    const { ids, query } = history();
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = query.runs(runs({ limit: '3', ...(cursor ? { cursor } : {}) }));
      seen.push(...page.runs.map((r) => r.run_id));
      if (page.next_cursor === null) break;
      cursor = page.next_cursor;
    }
    expect(seen).toEqual([...ids].reverse());
  });

  it('filters by host, status and time, together', () => {
    const { ids, query } = history();
    expect(query.runs(runs({ host: 'db-01' })).runs.map((r) => r.run_id)).toEqual([ids[9], ids[7], ids[5], ids[3], ids[1]]);
    expect(query.runs(runs({ status: 'failed' })).runs.map((r) => r.run_id)).toEqual([ids[9], ids[6], ids[3], ids[0]]);
    const window = runs({ since: new Date(base + 2 * HOUR).toISOString(), until: String((base + 5 * HOUR) / 1000) });
    expect(query.runs(window).runs.map((r) => r.run_id)).toEqual([ids[4], ids[3], ids[2]]);
    expect(query.runs(runs({ host: 'db-01', status: 'failed' })).runs.map((r) => r.run_id)).toEqual([ids[9], ids[3]]);
    expect(query.runs(runs({ host: 'nobody' }))).toEqual({ runs: [], next_cursor: null });
  });

  it('refuses a cursor it did not hand out with a domain error', () => {
    const { query } = history();
    const bad = () => query.runs(runs({ cursor: 'abc' }));
    expect(bad).toThrow(DomainError);
    expect(bad).toThrow('cursor: not a cursor this API handed out');
  });

  it('derives stale from the clock, and a host status from its latest run', () => {
    db = memoryDb();
    const { write } = writer(db);
    const r = runEvents({ start: base });
    write([r.started()], base);
    let now = base + 10_000;
    const query = queryStore(db, 60_000, () => now);
    expect(query.run(r.runId)?.status).toBe('running');
    now = base + 61_000;
    expect(query.run(r.runId)?.status).toBe('stale');
    expect(query.hostDetail('web-01')?.status).toBe('stale');
    expect(query.fleet().by_status).toMatchObject({ stale: 1, running: 0 });
  });
});

describe('query store: fleet', () => {
  it('counts every host by status and filters the rows by status and search', () => {
    const { query } = history();
    const all = query.fleet();
    expect(all.total).toBe(2);
    expect(all.by_status).toMatchObject({ running: 0, succeeded: 1, failed: 1, stale: 0, 'never-reported': 0 });
    expect(query.fleet({ status: 'failed' }).hosts.map((h) => h.hostname)).toEqual(['db-01']);
    expect(query.fleet({ q: 'WEB' }).hosts.map((h) => h.hostname)).toEqual(['web-01']);
    expect(query.fleet({ q: '10.1.0.2' }).hosts.map((h) => h.hostname)).toEqual(['db-01']);
    expect(query.fleet({ q: 'nothing' })).toMatchObject({ total: 2, hosts: [] });
  });
});
