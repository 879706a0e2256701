/**
 * A VM can speak only for itself: VM A, holding only its own key, tries the five takeovers of
 * VM B's record (docs/security.md). Each is refused, and B's record, runs and wait answer stay.
 * Then the same with the shared secret still allowed: what A can do is what the document says.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { cloudInitToken, vmSecret } from '../../src/auth/vm-keys.js';
import { secretKey, sign } from '../../src/ingest/signature.js';
import type { HostDetail, WaitAnswer } from '../../src/protocol/api.js';
import type { WebhookEvent } from '../../src/protocol/events.js';
import { makeApp, runEvents, type TestApp } from '../helper.js';

const MASTER = 'master-secret-for-tests-0123456789abcdef';
const SHARED = 'whsec_c2hhcmVkLXNlY3JldC1mb3ItdGVzdHMtMDEyMzQ1';
const A = { hostname: 'vm-a', machine_id: 'a'.repeat(32), vmid: 201, ips: ['10.0.0.1'] };
const B = { hostname: 'vm-b', machine_id: 'b'.repeat(32), vmid: 202, ips: ['10.0.0.2'] };

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** Posts events signed with `secret` (Standard Webhooks), from `from` as the source address. */
async function deliver(events: WebhookEvent[], secret: string | undefined, from: string) {
  const body = JSON.stringify({ events });
  const id = `msg_${randomUUID()}`;
  const ts = Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (secret)
    Object.assign(headers, {
      'webhook-id': id,
      'webhook-timestamp': String(ts),
      'webhook-signature': `v1,${sign(secretKey(secret), id, ts, body)}`,
    });
  return t!.app.inject({ method: 'POST', url: '/webhook', headers, payload: body, remoteAddress: from });
}

const keyOf = (name: string) => vmSecret(MASTER, name);

/** B reports a failed run with its own key, from its own address; returns its run. */
async function seedB() {
  const run = runEvents({ host: B });
  const res = await deliver([run.started(), run.task('failed', 'Start app'), run.finished(1, { exit_code: 2 })], keyOf('vm-b'), '10.0.0.2');
  expect(res.statusCode, res.body).toBe(200);
  const a = runEvents({ host: A });
  expect((await deliver([a.started(), a.finished()], keyOf('vm-a'), '10.0.0.1')).statusCode).toBe(200);
  return run;
}

async function stateOfB() {
  const host = (await t!.app.inject({ method: 'GET', url: '/hosts/vm-b' })).json() as HostDetail;
  const wait = (await t!.app.inject({ method: 'GET', url: '/hosts/10.0.0.2/wait?timeout=0' })).json() as WaitAnswer;
  return {
    identity: { hostname: host.hostname, machine_id: host.machine_id, instance_id: host.instance_id, vmid: host.vmid, ips: host.ips },
    runs: host.runs.map((r) => [r.run_id, r.status, r.exit_code, r.tasks.total]),
    wait: [wait.host?.hostname, wait.run?.status],
  };
}

describe('VM A with only its own key, against VM B', () => {
  it("refuses every takeover, and B's record, runs and wait answer stay as they were", async () => {
    t = await makeApp({ vmKeyMasters: [MASTER], requireVmKeys: true });
    const bRun = await seedB();
    const before = await stateOfB();
    expect(before.wait).toEqual(['vm-b', 'failed']);
    const a = runEvents({ host: A });

    // 1. A claims B's machine-id, or its VMID: refused, naming the conflict.
    for (const claim of [{ machine_id: B.machine_id }, { vmid: B.vmid }]) {
      const res = await deliver([{ ...a.started(), host: { ...A, ...claim } }], keyOf('vm-a'), '10.0.0.1');
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ code: 'IDENTITY_CONFLICT', message: expect.stringContaining('is host "vm-b"') });
    }
    // 2. A claims B's hostname (with a new machine-id): A's key is not B's.
    const asB = await deliver([{ ...a.started(), host: { ...B, machine_id: 'c'.repeat(32) } }], keyOf('vm-a'), '10.0.0.1');
    expect(asB.json()).toMatchObject({ statusCode: 401, code: 'BAD_SIGNATURE', message: 'no valid v1 signature for the key of "vm-b"' });
    // 3. A claims B's address for its own succeeded run: stored for A, but a lookup by the address
    //    picks the host whose deliveries come from it.
    const liar = runEvents({ host: { ...A, ips: B.ips } });
    expect((await deliver([liar.started(), liar.finished()], keyOf('vm-a'), '10.0.0.1')).statusCode).toBe(200);
    // 4. A adds a success to B's run.
    const forged = { ...bRun.finished(0), host: A };
    const intoRun = await deliver([forged], keyOf('vm-a'), '10.0.0.1');
    expect(intoRun.json()).toMatchObject({ statusCode: 409, code: 'RUN_OWNED_BY_OTHER_HOST' });
    // 5. phone_home for B with no token, or A's token: refused while keys are required.
    const form = 'instance_id=iid-evil&hostname=evil';
    const noToken = await t.app.inject({
      method: 'POST',
      url: '/cloud-init/vm-b/phone-home',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: form,
    });
    expect(noToken.json()).toMatchObject({ statusCode: 401, code: 'VM_KEY_REQUIRED' });
    const aToken = await t.app.inject({
      method: 'POST',
      url: `/cloud-init/vm-b/phone-home?token=${cloudInitToken(MASTER, 'vm-a')}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: form,
    });
    expect(aToken.json()).toMatchObject({
      statusCode: 401,
      code: 'UNAUTHORIZED',
      message: 'the token is not the cloud-init token of "vm-b"',
    });

    expect(await stateOfB()).toEqual(before);
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/webhook_deliveries_rejected_total\{reason="identity_conflict"\} 2/);
    expect(metrics).toMatch(/webhook_deliveries_rejected_total\{reason="run_owned_by_other_host"\} 1/);
  });

  it('a lookup by an address two hosts list, neither delivering from it, answers 409 naming them', async () => {
    t = await makeApp({ vmKeyMasters: [MASTER] });
    for (const vm of [A, B]) {
      const r = runEvents({ host: { ...vm, ips: ['10.0.0.9'] } });
      expect((await deliver([r.started(), r.finished()], keyOf(vm.hostname), vm.ips[0]!)).statusCode).toBe(200);
    }
    const res = await t.app.inject({ method: 'GET', url: '/hosts/10.0.0.9/wait?timeout=0' });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({
      code: 'AMBIGUOUS_IDENTITY',
      message: '10.0.0.9 is an address of several hosts ("vm-a", "vm-b"); name the VM by hostname, machine-id or VMID',
    });
  });

  it("B's own token may register it and set its instance-id", async () => {
    t = await makeApp({ vmKeyMasters: [MASTER], requireVmKeys: true });
    await seedB();
    const res = await t.app.inject({
      method: 'POST',
      url: `/cloud-init/vm-b/phone-home?token=${cloudInitToken(MASTER, 'vm-b')}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'instance_id=iid-b&hostname=vm-b',
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(((await t.app.inject({ method: 'GET', url: '/hosts/vm-b' })).json() as HostDetail).instance_id).toBe('iid-b');
  });
});

describe('with the shared secret still allowed', () => {
  it('A can speak for hosts no key has claimed, but never for B, whom its own key identified', async () => {
    t = await makeApp({ vmKeyMasters: [MASTER], secrets: [SHARED] });
    const bRun = await seedB();
    const before = await stateOfB();
    // What the shared secret allows: any host no per-VM key has identified.
    const c = runEvents({ host: { hostname: 'vm-c' } });
    expect((await deliver([c.started(), c.finished()], SHARED, '10.0.0.1')).statusCode).toBe(200);

    const a = runEvents({ host: A });
    const asB = await deliver([{ ...a.started(), host: { ...B, machine_id: 'c'.repeat(32) } }], SHARED, '10.0.0.1');
    expect(asB.json()).toMatchObject({
      statusCode: 401,
      code: 'VM_KEY_REQUIRED',
      message: 'host "vm-b" reports with its own key; a delivery for it must be signed with that key',
    });
    const machine = await deliver([{ ...a.started(), host: { ...A, machine_id: B.machine_id } }], SHARED, '10.0.0.1');
    expect(machine.json()).toMatchObject({ statusCode: 409, code: 'IDENTITY_CONFLICT' });
    const intoRun = await deliver([{ ...bRun.finished(0), host: { hostname: 'vm-c' } }], SHARED, '10.0.0.1');
    expect(intoRun.json()).toMatchObject({ statusCode: 409, code: 'RUN_OWNED_BY_OTHER_HOST' });
    // Unauthenticated cloud-init: a timeline entry for B, but no rename, no new instance-id.
    const phone = await t.app.inject({
      method: 'POST',
      url: '/cloud-init/vm-b/phone-home',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'instance_id=iid-evil&hostname=evil',
    });
    expect(phone.statusCode).toBe(200);
    const b = (await t.app.inject({ method: 'GET', url: '/hosts/vm-b' })).json() as HostDetail;
    expect(b.cloud_init.map((e) => e.source)).toEqual(['phone_home']);
    expect(await stateOfB()).toEqual(before);
  });

  it('an unsigned cloud-init report cannot rename a host the shared secret identified', async () => {
    t = await makeApp({ secrets: [SHARED] });
    const r = runEvents({ host: B });
    expect((await deliver([r.started(), r.finished()], SHARED, '10.0.0.2')).statusCode).toBe(200);
    await t.app.inject({
      method: 'POST',
      url: '/cloud-init/vm-b/phone-home',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'instance_id=iid-evil&hostname=evil',
    });
    const b = (await t.app.inject({ method: 'GET', url: '/hosts/vm-b' })).json() as HostDetail;
    expect([b.hostname, b.instance_id]).toEqual(['vm-b', null]);
  });
});
