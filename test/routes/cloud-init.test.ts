import { afterEach, describe, expect, it } from 'vitest';
import type { HostDetail } from '../../src/protocol/api.js';
import { getJson, makeApp, post, runEvents, type TestApp } from '../helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const report = (vm: string, body: object) =>
  // cloud-init's reporting handler sends JSON with no Content-Type.
  t!.app.inject({ method: 'POST', url: `/cloud-init/${vm}/events`, payload: JSON.stringify(body) });

describe('cloud-init endpoints', () => {
  it('shows reporting events in the host timeline before any ansible run', async () => {
    t = await makeApp();
    const start = {
      name: 'init-network',
      description: 'searching for network datasources',
      event_type: 'start',
      origin: 'cloudinit',
      timestamp: 1764140000.5,
    };
    const finish = { ...start, event_type: 'finish', result: 'FAIL', description: 'modules-final failed' };
    expect((await report('vm-7', start)).statusCode).toBe(200);
    expect((await report('vm-7', finish)).statusCode).toBe(200);
    const h = await getJson<HostDetail>(t.app, '/hosts/vm-7');
    expect(h.status).toBe(200);
    expect(h.body.status).toBe('boot-failed');
    // Newest first; at equal times the later report comes first.
    expect(h.body.cloud_init.map((e) => [e.event_type, e.result])).toEqual([
      ['finish', 'FAIL'],
      ['start', null],
    ]);
    expect(h.body.cloud_init.some((e) => e.result === 'FAIL' && e.time === new Date(1764140000500).toISOString())).toBe(true);
  });

  it('registers a host by phone_home and joins it with its first ansible run by instance id', async () => {
    t = await makeApp();
    const res = await t.app.inject({
      method: 'POST',
      url: '/cloud-init/vm-8/phone-home',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'instance_id=iid-vm-8&hostname=vm-8&fqdn=vm-8.lab&pub_key_rsa=ssh-rsa+AAAA',
    });
    expect(res.statusCode).toBe(200);
    let h = await getJson<HostDetail>(t.app, '/hosts/iid-vm-8');
    expect(h.body.status).toBe('booting');
    expect(h.body.registered_at).not.toBeNull();
    const r = runEvents({ host: { hostname: 'vm-8', instance_id: 'iid-vm-8', machine_id: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' } });
    await post(t.app, { events: [r.started(), r.finished()] });
    expect(t.db.prepare('SELECT count(*) FROM hosts').pluck().get()).toBe(1);
    h = await getJson<HostDetail>(t.app, '/hosts/vm-8');
    expect(h.body.status).toBe('succeeded');
    expect(h.body.cloud_init[0]?.source).toBe('phone_home');
    // The public keys are not kept anywhere.
    expect(JSON.stringify(h.body)).not.toContain('ssh-rsa');
  });

  it('refuses malformed reports with a 400 naming the field', async () => {
    t = await makeApp();
    const res = await report('vm-9', { name: 'x', event_type: 'middle', timestamp: 1 });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/^event_type: expected one of/);
    const form = await t.app.inject({
      method: 'POST',
      url: '/cloud-init/vm-9/phone-home',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'hostname=x',
    });
    expect(form.statusCode).toBe(400);
    expect(form.json().message).toMatch(/^instance_id: required/);
    const badVm = await report('bad%20name', { name: 'x', event_type: 'start', timestamp: 1 });
    expect(badVm.statusCode).toBe(400);
  });
});
