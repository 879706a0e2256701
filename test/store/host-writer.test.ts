/**
 * src/store/host-writer.ts on its own, on a migrated in-memory database: which identity finds a
 * host (machine-id, then instance-id, then VMID, then hostname; the newest on a tie), and how
 * what a VM says later is merged into the host it found.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import type { HostIdentity } from '../../src/protocol/events.js';
import { createHostWriter, type HostWriter } from '../../src/store/host-writer.js';

let db: Db;
let hosts: HostWriter;
beforeEach(() => {
  db = openDatabase(':memory:');
  migrate(db);
  hosts = createHostWriter(db);
});
afterEach(() => db.close());

const T0 = Date.parse('2026-03-01T12:00:00Z');
const MACHINE_A = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const MACHINE_B = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
let tick = 0;
/** Resolves an identity as an event would, each call a second later than the last. */
const resolve = (identity: HostIdentity, address = '192.0.2.10', now = T0 + ++tick * 1000) => hosts.resolve(identity, address, now);

interface HostRow {
  id: number;
  hostname: string;
  machine_id: string | null;
  instance_id: string | null;
  vmid: number | null;
  ips: string;
  first_seen_at: number;
  last_seen_at: number;
  last_address: string | null;
  registered_at: number | null;
}
const row = (id: number) => db.prepare('SELECT * FROM hosts WHERE id = ?').get(id) as HostRow;
const ipsOf = (id: number) => db.prepare('SELECT ip FROM host_ips WHERE host_id = ? ORDER BY ip').pluck().all(id);
const hostCount = () => db.prepare('SELECT count(*) FROM hosts').pluck().get();

describe('which identity finds the host', () => {
  it('refuses identities that point at two hosts, naming both, and changes neither', () => {
    const a = resolve({ hostname: 'web-01', machine_id: MACHINE_A });
    const b = resolve({ hostname: 'web-02', instance_id: 'iid-b', vmid: 102 });
    // A machine that now says web-02's other identities (a restored backup, a reused VMID): refused.
    expect(() => resolve({ hostname: 'web-02', machine_id: MACHINE_A, instance_id: 'iid-b', vmid: 102 })).toThrow(
      `identities point at different hosts (machine_id ${MACHINE_A} is host "web-01"; instance_id iid-b is host "web-02"); refused, not merged`,
    );
    expect(row(a)).toMatchObject({ hostname: 'web-01', machine_id: MACHINE_A, instance_id: null, vmid: null });
    expect(row(b)).toMatchObject({ hostname: 'web-02', machine_id: null, instance_id: 'iid-b', vmid: 102 });
  });

  it('machine-id finds the host when the other identities are new', () => {
    const a = resolve({ hostname: 'web-01', machine_id: MACHINE_A });
    expect(resolve({ hostname: 'web-01-renamed', machine_id: MACHINE_A, vmid: 150 })).toBe(a);
    expect(row(a)).toMatchObject({ hostname: 'web-01-renamed', vmid: 150 });
  });

  it('then instance-id, then VMID, then hostname', () => {
    const byInstance = resolve({ hostname: 'one', instance_id: 'iid-1' });
    const byVmid = resolve({ hostname: 'two', vmid: 202 });
    const byName = resolve({ hostname: 'three' });
    expect(hosts.find({ hostname: 'three', vmid: 202, instance_id: 'iid-1' })).toBe(byInstance);
    expect(hosts.find({ hostname: 'three', vmid: 202 })).toBe(byVmid);
    expect(hosts.find({ hostname: 'three' })).toBe(byName);
    // resolve() refuses what find() would settle by rank: these identities are three hosts.
    expect(() => resolve({ hostname: 'three', vmid: 202, instance_id: 'iid-1' })).toThrow(/identities point at different hosts/);
    expect(hostCount()).toBe(3);
  });

  it('falls through an identity nobody has to the next one', () => {
    const known = resolve({ hostname: 'web-01', vmid: 101 });
    expect(resolve({ hostname: 'web-01', machine_id: MACHINE_B, instance_id: 'iid-new' })).toBe(known);
    expect(hostCount()).toBe(1);
  });

  it('creates a host when no identity matches', () => {
    const a = resolve({ hostname: 'web-01', machine_id: MACHINE_A });
    const b = resolve({ hostname: 'web-01-new', machine_id: MACHINE_B });
    expect(b).not.toBe(a);
    expect(row(b)).toMatchObject({ hostname: 'web-01-new', machine_id: MACHINE_B, instance_id: null, vmid: null, ips: '[]' });
  });

  it('takes the host seen last when several share an identity', () => {
    // Two VMs cloned from one template report the same hostname with their own machine-ids.
    const first = resolve({ hostname: 'template', machine_id: MACHINE_A });
    const second = resolve({ hostname: 'template', machine_id: MACHINE_B });
    expect(resolve({ hostname: 'template' })).toBe(second);
    resolve({ hostname: 'template', machine_id: MACHINE_A });
    expect(resolve({ hostname: 'template' })).toBe(first);
  });

  it('find() looks without writing', () => {
    expect(hosts.find({ hostname: 'web-01' })).toBeUndefined();
    const id = resolve({ hostname: 'web-01', vmid: 101 });
    expect(hosts.find({ vmid: 101 })).toBe(id);
    expect(hosts.find({ machine_id: MACHINE_A })).toBeUndefined();
    expect(hostCount()).toBe(1);
  });
});

describe('merging what the VM says', () => {
  it('adds identities it learns and keeps those a later event leaves out', () => {
    const id = resolve({ hostname: 'web-01', machine_id: MACHINE_A });
    resolve({ hostname: 'web-01', machine_id: MACHINE_A, instance_id: 'iid-1', vmid: 101 });
    resolve({ hostname: 'web-01', machine_id: MACHINE_A });
    expect(row(id)).toMatchObject({ hostname: 'web-01', machine_id: MACHINE_A, instance_id: 'iid-1', vmid: 101 });
  });

  it('follows a rename and a new VMID on the same machine', () => {
    const id = resolve({ hostname: 'web-01', machine_id: MACHINE_A, vmid: 101 });
    expect(resolve({ hostname: 'web-01-renamed', machine_id: MACHINE_A, vmid: 111 })).toBe(id);
    expect(row(id)).toMatchObject({ hostname: 'web-01-renamed', vmid: 111 });
    expect(hosts.find({ hostname: 'web-01' })).toBeUndefined();
  });

  it('replaces the address list when one is sent, and keeps it when not', () => {
    const id = resolve({ hostname: 'web-01', ips: ['192.0.2.10', '2001:db8::10'] });
    expect(ipsOf(id)).toEqual(['192.0.2.10', '2001:db8::10']);
    resolve({ hostname: 'web-01' });
    expect(ipsOf(id)).toEqual(['192.0.2.10', '2001:db8::10']);
    expect(JSON.parse(row(id).ips)).toEqual(['192.0.2.10', '2001:db8::10']);
    resolve({ hostname: 'web-01', ips: ['192.0.2.20'] });
    expect(ipsOf(id)).toEqual(['192.0.2.20']);
    expect(JSON.parse(row(id).ips)).toEqual(['192.0.2.20']);
    resolve({ hostname: 'web-01', ips: [] });
    expect(ipsOf(id)).toEqual([]);
  });

  it('keeps first and last seen in order when an older event arrives late', () => {
    const id = resolve({ hostname: 'web-01' }, '192.0.2.10', T0 + 60_000);
    resolve({ hostname: 'web-01' }, '192.0.2.11', T0); // a spooled event delivered after a newer one
    expect(row(id)).toMatchObject({ first_seen_at: T0 + 60_000, last_seen_at: T0 + 60_000, last_address: '192.0.2.11' });
    resolve({ hostname: 'web-01' }, '192.0.2.12', T0 + 120_000);
    expect(row(id)).toMatchObject({ first_seen_at: T0 + 60_000, last_seen_at: T0 + 120_000, last_address: '192.0.2.12' });
  });
});

describe('cloud-init names a host in its URL', () => {
  const byName = (vm: string, identity: { hostname?: string; instance_id?: string } = {}) =>
    hosts.resolveByName(vm, identity, '192.0.2.10', T0 + ++tick * 1000);

  it('finds it by any identity the name could be', () => {
    const id = resolve({ hostname: 'web-01', machine_id: MACHINE_A, instance_id: 'iid-1', vmid: 101 });
    for (const vm of ['web-01', MACHINE_A, 'iid-1', '101']) expect(byName(vm), vm).toBe(id);
    expect(hostCount()).toBe(1);
  });

  it('prefers the instance-id cloud-init posts over the name in the URL', () => {
    const named = resolve({ hostname: 'web-01' });
    const instance = resolve({ hostname: 'web-02', instance_id: 'iid-2' });
    expect(byName('web-01', { instance_id: 'iid-2' })).toBe(instance);
    expect(byName('web-01', { instance_id: 'iid-unknown' })).toBe(named);
  });

  it('reads only digits as a VMID', () => {
    const id = resolve({ hostname: 'web-01', vmid: 101 });
    expect(byName('101')).toBe(id);
    expect(byName('0101')).toBe(id);
    expect(byName('101a')).not.toBe(id);
    expect(byName('1234567890')).not.toBe(id); // past the protocol's nine digits: a name
  });

  it('creates a host under the name when nothing matches, with what the form said', () => {
    const id = byName('new-vm', { instance_id: 'iid-new' });
    expect(row(id)).toMatchObject({ hostname: 'new-vm', instance_id: 'iid-new', machine_id: null, vmid: null });
    // The form's hostname, when it sends one, is the host's name.
    const other = byName('9000', { hostname: 'from-the-form' });
    expect(row(other)).toMatchObject({ hostname: 'from-the-form', vmid: null });
    // The playbook run that follows, with the machine-id, lands on the same host.
    expect(resolve({ hostname: 'new-vm', instance_id: 'iid-new', machine_id: MACHINE_A })).toBe(id);
  });

  it('register() keeps the first phone_home time', () => {
    const id = byName('web-01');
    hosts.register(id, T0 + 5_000);
    hosts.register(id, T0 + 9_000);
    expect(row(id).registered_at).toBe(T0 + 5_000);
  });
});

describe('a VM that says the same identity again', () => {
  const identity: HostIdentity = { hostname: 'web-01', machine_id: MACHINE_A, vmid: 101, ips: ['10.0.0.5', '10.0.0.6'] };
  const totalChanges = () => (db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
  const ipsOf = (id: number) => db.prepare('SELECT ip FROM host_ips WHERE host_id = ? ORDER BY ip').pluck().all(id);

  it('touches only its host row: last seen and address, not its identity or its addresses', () => {
    const id = resolve(identity, '192.0.2.10', T0);
    const before = totalChanges();
    expect(resolve(identity, '192.0.2.11', T0 + 5000)).toBe(id);
    expect(totalChanges() - before).toBe(1);
    expect(row(id)).toMatchObject({ last_seen_at: T0 + 5000, last_address: '192.0.2.11', hostname: 'web-01', vmid: 101 });
    expect(ipsOf(id)).toEqual(['10.0.0.5', '10.0.0.6']);
  });

  it('rewrites its addresses once they change, and its identity once a field changes', () => {
    const id = resolve(identity, '192.0.2.10', T0);
    resolve({ ...identity, ips: ['10.0.0.7'] });
    expect(ipsOf(id)).toEqual(['10.0.0.7']);
    resolve({ ...identity, ips: ['10.0.0.7'], hostname: 'web-01b' });
    expect(row(id)).toMatchObject({ hostname: 'web-01b', ips: '["10.0.0.7"]' });
    expect(ipsOf(id)).toEqual(['10.0.0.7']);
  });
});

describe('a peek followed by the resolve of the same event', () => {
  const identity = (): HostIdentity => ({ hostname: 'web-01', machine_id: MACHINE_A });

  it('looks the host up once: the resolve reuses what the peek found', () => {
    const id = resolve(identity());
    // Counts the reads of a writer of its own: the lookups a resolve makes on top of its peek.
    let reads = 0;
    const counted = new Proxy(db, {
      get: (target, key) =>
        key === 'prepare'
          ? (sql: string) => {
              const statement = target.prepare(sql);
              if (!statement.reader) return statement;
              const get = statement.get.bind(statement);
              return Object.assign(statement, {
                get: (...args: unknown[]) => {
                  reads++;
                  return get(...args);
                },
              });
            }
          : Reflect.get(target, key, target),
    });
    const writer = createHostWriter(counted);
    const said = identity();
    const alone = (() => {
      reads = 0;
      writer.resolve(identity(), '192.0.2.10', T0 + 1000);
      return reads;
    })();
    reads = 0;
    expect(writer.peek(said, 0)).toBe(id);
    const peekReads = reads;
    expect(writer.resolve(said, '192.0.2.10', T0 + 2000)).toBe(id);
    // Alone, a resolve makes the peek's lookups and then its own reads of the host row.
    expect(peekReads).toBeGreaterThan(0);
    expect(reads - peekReads).toBe(alone - peekReads);
  });

  it('looks again after a write: a host created in between is found, not created twice', () => {
    const said = identity();
    expect(hosts.peek(said, 0)).toBeUndefined();
    const other = resolve({ hostname: 'web-01-new', machine_id: MACHINE_A });
    expect(resolve(said)).toBe(other);
    expect(hostCount()).toBe(1);
  });

  it('does not reuse a peek from a transaction that rolled back', () => {
    const said = identity();
    expect(() =>
      db.transaction(() => {
        hosts.beginWrite();
        resolve({ hostname: 'web-01', machine_id: MACHINE_A });
        expect(hosts.peek(said, 0)).toBeDefined();
        throw new Error('a later delivery of the group failed');
      })(),
    ).toThrow('a later delivery of the group failed');
    expect(hostCount()).toBe(0);
    const id = db.transaction(() => {
      hosts.beginWrite();
      return resolve(said);
    })();
    expect(row(id)).toMatchObject({ hostname: 'web-01', machine_id: MACHINE_A });
    expect(hostCount()).toBe(1);
  });
});
