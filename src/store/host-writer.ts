/**
 * Finding and updating hosts on ingest. A host is found by its strongest identity (machine-id,
 * then instance-id, then VMID, then hostname) and whatever the VM now says is merged into it;
 * a delivery signed with the VM's own key is found by its hostname alone (docs/security.md).
 * Identities that point at two hosts are refused, never merged.
 */
import type { Db } from '../db/database.js';
import { DomainError } from '../errors.js';
import type { HostIdentity } from '../protocol/events.js';
import { hostLastSeenLookupSql } from './status-sql.js';

/** Who vouches for an identity: nobody, the shared secret, or the VM's own key (or cloud-init token). */
export const Trust = { none: 0, shared: 1, vmKey: 2 } as const;
export type Trust = (typeof Trust)[keyof typeof Trust];

/** Cloud-init's identity for a host is only what it puts in the URL and the phone_home form. */
export interface PartialIdentity {
  hostname?: string | undefined;
  instance_id?: string | undefined;
}

export function createHostWriter(db: Db) {
  const newest = `ORDER BY ${hostLastSeenLookupSql('hosts')} DESC LIMIT 1`;
  const byMachineId = db.prepare<[string], { id: number }>(`SELECT id FROM hosts WHERE machine_id = ? ${newest}`);
  const byInstanceId = db.prepare<[string], { id: number }>(`SELECT id FROM hosts WHERE instance_id = ? ${newest}`);
  const byVmid = db.prepare<[number], { id: number }>(`SELECT id FROM hosts WHERE vmid = ? ${newest}`);
  const byHostname = db.prepare<[string], { id: number }>(`SELECT id FROM hosts WHERE hostname = ? ${newest}`);
  const insertHost = db.prepare(
    `INSERT INTO hosts (hostname, machine_id, instance_id, vmid, ips, first_seen_at, last_seen_at, last_address)
     VALUES (@hostname, @machine_id, @instance_id, @vmid, @ips, @now, @now, @address)`,
  );
  const updateHost = db.prepare(
    `UPDATE hosts SET hostname = coalesce(@hostname, hostname),
       machine_id = coalesce(@machine_id, machine_id),
       instance_id = coalesce(@instance_id, instance_id),
       vmid = coalesce(@vmid, vmid),
       ips = coalesce(@ips, ips),
       last_seen_at = max(last_seen_at, @now),
       first_seen_at = CASE WHEN placeholder = 1 THEN @now ELSE first_seen_at END,
       placeholder = 0,
       last_address = @address
     WHERE id = @id`,
  );
  type Stored = {
    hostname: string;
    machine_id: string | null;
    instance_id: string | null;
    vmid: number | null;
    ips: string;
    placeholder: number;
    last_address: string | null;
    latest_run_id: string | null;
    identified_by: Trust;
  };
  const current = db.prepare<[number], Stored>(
    `SELECT hostname, machine_id, instance_id, vmid, ips, placeholder, last_address, latest_run_id, identified_by
     FROM hosts WHERE id = ?`,
  );
  // Sets neither identity column, so none of the hosts' identity indexes is rewritten.
  const touchHost = db.prepare('UPDATE hosts SET last_seen_at = max(last_seen_at, @now), last_address = @address WHERE id = @id');
  const deleteIps = db.prepare('DELETE FROM host_ips WHERE host_id = ?');
  const insertIp = db.prepare('INSERT OR IGNORE INTO host_ips (ip, host_id) VALUES (?, ?)');
  const registerHost = db.prepare('UPDATE hosts SET registered_at = coalesce(registered_at, @now) WHERE id = @id');
  const hostTrust = db.prepare<[number], { hostname: string; identified_by: Trust }>(
    'SELECT hostname, identified_by FROM hosts WHERE id = ?',
  );
  const raiseTrust = db.prepare('UPDATE hosts SET identified_by = max(identified_by, @trust) WHERE id = @id');

  /** Every host an identity points at, by which of its parts: more than one is a conflict. */
  function matches(id: Partial<HostIdentity>): Map<number, string> {
    const found = new Map<number, string>();
    const add = (host: number | undefined, by: string) => {
      if (host !== undefined && !found.has(host)) found.set(host, by);
    };
    if (id.machine_id !== undefined) add(byMachineId.get(id.machine_id)?.id, `machine_id ${id.machine_id}`);
    if (id.instance_id !== undefined) add(byInstanceId.get(id.instance_id)?.id, `instance_id ${id.instance_id}`);
    if (id.vmid !== undefined) add(byVmid.get(id.vmid)?.id, `vmid ${id.vmid}`);
    if (id.hostname !== undefined) add(byHostname.get(id.hostname)?.id, `hostname ${id.hostname}`);
    return found;
  }

  const nameOf = (host: number) => hostTrust.get(host)?.hostname ?? `#${host}`;

  function conflict(found: Map<number, string>): never {
    const parts = [...found].map(([host, by]) => `${by} is host ${JSON.stringify(nameOf(host))}`);
    throw new DomainError('IDENTITY_CONFLICT', `identities point at different hosts (${parts.join('; ')}); refused, not merged`);
  }

  /**
   * The existing host a delivery speaks for, if any. Signed with the VM's own key, it is the host of
   * that hostname, and no other identity in the delivery may belong to another host; otherwise the
   * strongest identity wins, but never two hosts at once and never a host a VM's key holds.
   */
  function existing(identity: HostIdentity, trust: Trust): number | undefined {
    const found = matches(identity);
    if (trust === Trust.vmKey) {
      const own = byHostname.get(identity.hostname)?.id;
      const others = new Map([...found].filter(([host]) => host !== own));
      if (others.size > 0) conflict(own === undefined ? others : new Map([[own, `hostname ${identity.hostname}`], ...others]));
      return own;
    }
    if (found.size > 1) conflict(found);
    // The one host every part that matched points at: what find() would look up again.
    const host = found.keys().next().value;
    if (host !== undefined && (hostTrust.get(host)?.identified_by ?? 0) >= Trust.vmKey) {
      throw new DomainError(
        'VM_KEY_REQUIRED',
        `host ${JSON.stringify(nameOf(host))} reports with its own key; a delivery for it must be signed with that key`,
      );
    }
    return host;
  }

  function find(id: PartialIdentity & Partial<HostIdentity>): number | undefined {
    return (
      (id.machine_id !== undefined ? byMachineId.get(id.machine_id)?.id : undefined) ??
      (id.instance_id !== undefined ? byInstanceId.get(id.instance_id)?.id : undefined) ??
      (id.vmid !== undefined ? byVmid.get(id.vmid)?.id : undefined) ??
      (id.hostname !== undefined ? byHostname.get(id.hostname)?.id : undefined)
    );
  }

  /**
   * Creates or updates the host, and raises its trust to `trust`. `run` is the run the delivery
   * stores events for, if any: when it is the host's latest run and the address is the last one,
   * the run's own last_event_at tells when the host was last seen (hostLastSeenSql), so the host's
   * row is not written at all, which saves a page in most commits of a fleet's deliveries.
   */
  function upsert(
    identity: Partial<HostIdentity>,
    fallbackName: string,
    address: string,
    now: number,
    found: number | undefined,
    trust: Trust,
    run?: string,
  ): number {
    const row = {
      hostname: identity.hostname ?? null,
      machine_id: identity.machine_id ?? null,
      instance_id: identity.instance_id ?? null,
      vmid: identity.vmid ?? null,
      ips: identity.ips ? JSON.stringify(identity.ips) : null,
      now,
      address,
    };
    if (found === undefined) {
      const id = Number(insertHost.run({ ...row, hostname: row.hostname ?? fallbackName, ips: row.ips ?? '[]' }).lastInsertRowid);
      if (identity.ips) writeIps(id, identity.ips);
      raise(id, Trust.none, trust);
      return id;
    }
    // A VM says the same identity in every delivery: rewriting it would cost every index on hosts
    // and host_ips a page per commit, the largest part of a small commit's writes.
    const was = current.get(found)!;
    const ipsChanged = row.ips !== null && row.ips !== was.ips;
    const same = <T>(said: T | null, stored: T | null) => said === null || said === stored;
    if (
      was.placeholder === 0 &&
      !ipsChanged &&
      same(row.hostname, was.hostname) &&
      same(row.machine_id, was.machine_id) &&
      same(row.instance_id, was.instance_id) &&
      same(row.vmid, was.vmid)
    ) {
      if (run === undefined || run !== was.latest_run_id || address !== was.last_address) touchHost.run({ id: found, now, address });
      raise(found, was.identified_by, trust);
      return found;
    }
    updateHost.run({ ...row, id: found });
    if (identity.ips && ipsChanged) writeIps(found, identity.ips);
    raise(found, was.identified_by, trust);
    return found;
  }

  // Only when it rises: an UPDATE that sets a column to its own value still writes the page.
  function raise(id: number, had: Trust, trust: Trust): void {
    if (trust > had) raiseTrust.run({ id, trust });
  }

  function writeIps(id: number, ips: string[]): void {
    deleteIps.run(id);
    for (const ip of ips) insertIp.run(ip, id);
  }

  // The answer of the last peek, for the resolve of the same event that follows it when the event
  // is for a run already stored: with nothing written in between, its lookups would give the same
  // answer (5 of the 13 statements a delivery cost besides its event rows). Any write, and the
  // start of every transaction (a rolled-back one may have created the host), forgets it.
  let peeked: { identity: HostIdentity; trust: Trust; host: number | undefined } | undefined;

  return {
    find,
    /** Called at the start of each write transaction. */
    beginWrite(): void {
      peeked = undefined;
    },
    /** The existing host a delivery would be stored under (nothing written); throws as resolve would. */
    peek(identity: HostIdentity, trust: Trust): number | undefined {
      peeked = undefined;
      const host = existing(identity, trust);
      peeked = { identity, trust, host };
      return host;
    },
    /**
     * The host an event speaks for, created or updated from its identity. `run` is the run the
     * event is stored in, whose last_event_at the caller brings up to `now` in the same write.
     */
    resolve(identity: HostIdentity, address: string, now: number, trust: Trust = Trust.none, run?: string): number {
      const known = peeked !== undefined && peeked.identity === identity && peeked.trust === trust ? peeked : undefined;
      peeked = undefined;
      return upsert(identity, identity.hostname, address, now, known ? known.host : existing(identity, trust), trust, run);
    },
    /**
     * The host named in a cloud-init URL (any identity), merged with what cloud-init's form says.
     * Without the VM's token a report may add to the timeline of a host a signed delivery identified,
     * but not rename it or change its instance-id.
     */
    resolveByName(vm: string, identity: PartialIdentity, address: string, now: number, trust: Trust = Trust.none): number {
      peeked = undefined;
      const named = find({ hostname: vm, instance_id: vm, machine_id: vm, vmid: /^\d{1,9}$/.test(vm) ? Number(vm) : undefined });
      const found = trust >= Trust.vmKey ? named : (find({ instance_id: identity.instance_id }) ?? named);
      if (found !== undefined && trust < Trust.vmKey && (hostTrust.get(found)?.identified_by ?? 0) > trust) return found;
      if (found !== undefined && trust >= Trust.vmKey && identity.instance_id !== undefined) {
        const other = byInstanceId.get(identity.instance_id)?.id;
        if (other !== undefined && other !== found)
          conflict(
            new Map([
              [found, `vm ${vm}`],
              [other, `instance_id ${identity.instance_id}`],
            ]),
          );
      }
      return upsert(identity, vm, address, now, found, trust);
    },
    register(id: number, now: number): void {
      peeked = undefined;
      registerHost.run({ id, now });
    },
  };
}

export type HostWriter = ReturnType<typeof createHostWriter>;
