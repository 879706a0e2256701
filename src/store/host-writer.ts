/**
 * Finding and updating hosts on ingest. A host is found by its strongest identity (machine-id,
 * then instance-id, then VMID, then hostname) and whatever the VM now says is merged into it.
 */
import type { Db } from '../db/database.js';
import type { HostIdentity } from '../protocol/events.js';

/** Cloud-init's identity for a host is only what it puts in the URL and the phone_home form. */
export interface PartialIdentity {
  hostname?: string | undefined;
  instance_id?: string | undefined;
}

export function createHostWriter(db: Db) {
  const newest = 'ORDER BY last_seen_at DESC LIMIT 1';
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
  const deleteIps = db.prepare('DELETE FROM host_ips WHERE host_id = ?');
  const insertIp = db.prepare('INSERT OR IGNORE INTO host_ips (ip, host_id) VALUES (?, ?)');
  const registerHost = db.prepare('UPDATE hosts SET registered_at = coalesce(registered_at, @now) WHERE id = @id');

  function find(id: PartialIdentity & Partial<HostIdentity>): number | undefined {
    return (
      (id.machine_id !== undefined ? byMachineId.get(id.machine_id)?.id : undefined) ??
      (id.instance_id !== undefined ? byInstanceId.get(id.instance_id)?.id : undefined) ??
      (id.vmid !== undefined ? byVmid.get(id.vmid)?.id : undefined) ??
      (id.hostname !== undefined ? byHostname.get(id.hostname)?.id : undefined)
    );
  }

  function upsert(identity: Partial<HostIdentity>, fallbackName: string, address: string, now: number, found?: number): number {
    const row = {
      hostname: identity.hostname ?? null,
      machine_id: identity.machine_id ?? null,
      instance_id: identity.instance_id ?? null,
      vmid: identity.vmid ?? null,
      ips: identity.ips ? JSON.stringify(identity.ips) : null,
      now,
      address,
    };
    let id = found;
    if (id === undefined) {
      id = Number(insertHost.run({ ...row, hostname: row.hostname ?? fallbackName, ips: row.ips ?? '[]' }).lastInsertRowid);
    } else {
      updateHost.run({ ...row, id });
    }
    if (identity.ips) {
      deleteIps.run(id);
      for (const ip of identity.ips) insertIp.run(ip, id);
    }
    return id;
  }

  return {
    find,
    /** The host an event speaks for, created or updated from its identity. */
    resolve(identity: HostIdentity, address: string, now: number): number {
      return upsert(identity, identity.hostname, address, now, find(identity));
    },
    /** The host named in a cloud-init URL (any identity), merged with what cloud-init's form says. */
    resolveByName(vm: string, identity: PartialIdentity, address: string, now: number): number {
      const found =
        find({ instance_id: identity.instance_id }) ??
        find({ hostname: vm, instance_id: vm, machine_id: vm, vmid: /^\d{1,9}$/.test(vm) ? Number(vm) : undefined });
      return upsert(identity, vm, address, now, found);
    },
    register(id: number, now: number): void {
      registerHost.run({ id, now });
    },
  };
}

export type HostWriter = ReturnType<typeof createHostWriter>;
