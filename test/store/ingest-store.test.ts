/** The ingest store on a real in-memory database: outcomes, derived run state, host identity. */
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { DomainError } from '../../src/errors.js';
import { host, runEvents } from '../helper.js';
import { memoryDb, writer } from './memory-db.js';

let db: Db;
afterEach(() => db?.close());

const row = <T>(sql: string, ...args: unknown[]) => db.prepare(sql).get(...args) as T;
const hostCount = () => row<{ n: number }>('SELECT count(*) AS n FROM hosts').n;

describe('ingest store: writeEvents', () => {
  it('stores a run, counts its tasks by status and finishes it', () => {
    db = memoryDb();
    const { write } = writer(db);
    const r = runEvents();
    const result = write([r.started(), r.task('ok'), r.task('changed'), r.task('failed'), r.finished(1)]);
    expect(result.outcomes).toEqual(['stored', 'stored', 'stored', 'stored', 'stored']);
    expect(result.finishedHostIds.size).toBe(1);
    expect(row('SELECT status, tasks_total, tasks_ok, tasks_changed, tasks_failed FROM runs')).toEqual({
      status: 'failed',
      tasks_total: 3,
      tasks_ok: 1,
      tasks_changed: 1,
      tasks_failed: 1,
    });
  });

  it('answers a redelivery as duplicate and changes nothing, not even the host', () => {
    db = memoryDb();
    const { write } = writer(db);
    const r = runEvents();
    const e = r.task();
    write([r.started(), e], 1000);
    const again = write([e], 5000);
    expect(again.outcomes).toEqual(['duplicate']);
    expect(again.touchedHostIds.size).toBe(0);
    expect(row('SELECT tasks_total FROM runs')).toEqual({ tasks_total: 1 });
    expect(row('SELECT last_seen_at FROM hosts')).toEqual({ last_seen_at: 1000 });
  });

  it('keeps the latest run as the one that started last, whatever order runs arrive in', () => {
    db = memoryDb();
    const { write } = writer(db);
    const newer = runEvents({ start: Date.parse('2026-05-02T00:00:00Z') });
    const older = runEvents({ start: Date.parse('2026-05-01T00:00:00Z') });
    write([newer.started()]);
    write([older.started(), older.finished()]);
    expect(row<{ latest_run_id: string }>('SELECT latest_run_id FROM hosts').latest_run_id).toBe(newer.runId);
  });

  it('finds a host by machine-id first, so a renamed VM stays one host with its new name', () => {
    db = memoryDb();
    const { write } = writer(db);
    write([runEvents({ host: host({ hostname: 'old-name' }) }).started()]);
    write([runEvents({ host: host({ hostname: 'new-name' }) }).started()]);
    expect(hostCount()).toBe(1);
    expect(row('SELECT hostname FROM hosts')).toEqual({ hostname: 'new-name' });
  });

  it('falls back to the hostname when no stronger identity matches (a rebuilt VM keeps its history)', () => {
    db = memoryDb();
    const { write } = writer(db);
    write([runEvents({ host: host({ machine_id: '0'.repeat(32), vmid: 101 }) }).started()]);
    write([runEvents({ host: host({ machine_id: '1'.repeat(32) }) }).started()]);
    expect(hostCount()).toBe(1);
    expect(row('SELECT machine_id, vmid FROM hosts')).toEqual({ machine_id: '1'.repeat(32), vmid: 101 });
  });

  it('refuses a write whose machine-id and VMID point at different hosts, and stores nothing of it', () => {
    db = memoryDb();
    const { write } = writer(db);
    write([runEvents({ host: host({ hostname: 'a', machine_id: '0'.repeat(32) }) }).started()]);
    write([runEvents({ host: host({ hostname: 'b', machine_id: undefined, vmid: 7 }) }).started()]);
    expect(() => write([runEvents({ host: host({ hostname: 'c', machine_id: '0'.repeat(32), vmid: 7 }) }).started()])).toThrow(
      /IDENTITY_CONFLICT|identities point at different hosts/,
    );
    expect(db.prepare('SELECT hostname FROM hosts ORDER BY id').pluck().all()).toEqual(['a', 'b']);
    expect(db.prepare('SELECT count(*) FROM runs').pluck().get()).toBe(2);
  });

  it('replaces a host’s IP addresses with what it reports now', () => {
    db = memoryDb();
    const { write } = writer(db);
    write([runEvents({ host: host({ ips: ['10.0.0.5', '10.0.0.6'] }) }).started()]);
    write([runEvents({ host: host({ ips: ['10.0.0.7'] }) }).started()]);
    expect(db.prepare('SELECT ip FROM host_ips ORDER BY ip').pluck().all()).toEqual(['10.0.0.7']);
  });

  it('turns a locked database into STORAGE_UNAVAILABLE', () => {
    db = memoryDb();
    const { write } = writer(db);
    db.pragma('query_only = ON');
    expect(() => write([runEvents().started()])).toThrow(DomainError);
    try {
      write([runEvents().started()]);
    } catch (err) {
      expect(err).toMatchObject({ kind: 'STORAGE_UNAVAILABLE', message: 'the database cannot take writes right now (SQLITE_READONLY)' });
    }
  });
});

describe('ingest store: recordCloudInit', () => {
  it('creates the host named in the URL, then merges the phone_home form into it', () => {
    db = memoryDb();
    const { store } = writer(db);
    const a = store.recordCloudInit('vm-7', {}, { source: 'reporting', name: 'init-local', event_type: 'start', time: 1 }, '10.0.0.9', 10);
    const b = store.recordCloudInit(
      'vm-7',
      { instance_id: 'iid-7', hostname: 'vm-7' },
      { source: 'phone_home', name: 'phone_home', time: 2 },
      '10.0.0.9',
      20,
    );
    expect(b).toBe(a);
    expect(row('SELECT hostname, instance_id, registered_at FROM hosts')).toEqual({
      hostname: 'vm-7',
      instance_id: 'iid-7',
      registered_at: 20,
    });
    expect(row<{ n: number }>('SELECT count(*) AS n FROM cloud_init_events').n).toBe(2);
  });

  it('files a later run report under the host cloud-init created, by hostname', () => {
    db = memoryDb();
    const { store, write } = writer(db);
    store.recordCloudInit('web-01', {}, { source: 'reporting', name: 'init', time: 1 }, '10.0.0.9', 10);
    write([runEvents({ host: host({ hostname: 'web-01', machine_id: undefined }) }).started()]);
    expect(hostCount()).toBe(1);
  });
});
