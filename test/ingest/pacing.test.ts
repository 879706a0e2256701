/**
 * Pacing: a 200 answer asks senders to gather events for `active senders / rate` seconds once
 * that exceeds the plugin's own 2 s, counts each source once, forgets sources after the window,
 * and shows in /metrics.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createPacer } from '../../src/ingest/pacing.js';
import { host, makeApp, runEvents, type TestApp } from '../helper.js';

describe('createPacer', () => {
  it('spreads the active senders over the rate, from past the senders own linger up to the maximum', () => {
    const now = 1_000_000;
    const pacer = createPacer({ rate: 100, maxMs: 30_000, clock: () => now });
    for (let i = 0; i < 200; i++) pacer.seen(`10.0.0.${i}`);
    // 200 senders at 100 a second: 2 s, which the senders do anyway.
    expect([pacer.active(), pacer.lingerMs()]).toEqual([200, 0]);
    for (let i = 0; i < 250; i++) pacer.seen(`10.0.1.${i}`);
    expect([pacer.active(), pacer.lingerMs()]).toEqual([450, 4500]);
    // The same sources again count once.
    for (let i = 0; i < 250; i++) pacer.seen(`10.0.1.${i}`);
    expect(pacer.active()).toBe(450);
    for (let i = 0; i < 10_000; i++) pacer.seen(`10.1.${i >> 8}.${i & 255}`);
    expect(pacer.lingerMs()).toBe(30_000);
  });

  it('forgets a source two maxima after its latest delivery, and a source seen again stays', () => {
    let now = 0;
    const pacer = createPacer({ rate: 1, maxMs: 10_000, clock: () => now });
    pacer.seen('a');
    pacer.seen('b');
    pacer.seen('c');
    now = 15_000;
    pacer.seen('a');
    now = 20_001;
    expect(pacer.active()).toBe(1);
    expect(pacer.lingerMs()).toBe(0);
    now = 35_001;
    expect(pacer.active()).toBe(0);
  });

  it('gives no advice with rate 0', () => {
    const pacer = createPacer({ rate: 0, maxMs: 60_000, clock: () => 0 });
    for (let i = 0; i < 5000; i++) pacer.seen(String(i));
    expect([pacer.active(), pacer.lingerMs()]).toEqual([0, 0]);
  });
});

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const deliver = (app: TestApp['app'], from: string, name: string) => {
  const run = runEvents({ host: host({ hostname: name, machine_id: undefined, vmid: undefined, ips: [] }) });
  return app.inject({
    method: 'POST',
    url: '/webhook',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ events: [run.started(), run.task('ok')] }),
    remoteAddress: from,
  });
};

describe('POST /webhook pacing', () => {
  it('adds linger_ms to the answer once the senders outgrow the rate, and reports it in /metrics', async () => {
    t = await makeApp({ pacingRate: 1, pacingMaxMs: 60_000 });
    const answers = [];
    for (let i = 1; i <= 4; i++) answers.push((await deliver(t.app, `10.9.0.${i}`, `vm-${i}`)).json());
    // 1 and 2 senders at one delivery a second: within the plugin's own 2 s; then 3 s and 4 s.
    expect(answers.map((a) => a.linger_ms)).toEqual([undefined, undefined, 3000, 4000]);
    expect(answers.every((a) => a.stored === 2)).toBe(true);
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/^webhook_pacing_senders 4$/m);
    expect(metrics).toMatch(/^webhook_pacing_linger_seconds 4$/m);
  });

  it('never advises with WEBHOOK_PACING_RATE=0', async () => {
    t = await makeApp({ pacingRate: 0 });
    for (let i = 1; i <= 5; i++) expect((await deliver(t.app, `10.9.1.${i}`, `vm-${i}`)).json().linger_ms).toBeUndefined();
    expect((await t.app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^webhook_pacing_linger_seconds 0$/m);
  });
});
