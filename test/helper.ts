/** Test helpers: an app on its own real SQLite file, and event factories. */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, type App } from '../src/app.js';
import { testConfig, type Config } from '../src/config.js';
import { openDatabase, type Db } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';
import type { HostIdentity, WebhookEvent } from '../src/protocol/events.js';

export interface TestApp {
  app: App;
  db: Db;
  dir: string;
  config: Config;
  close: () => Promise<void>;
}

export function tempDir(prefix = 'webhook-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Builds an app on a fresh database file in a temp dir; `clock` lets a test move time. */
export async function makeApp(overrides: Partial<Config> = {}, clock?: () => number): Promise<TestApp> {
  const dir = tempDir();
  const config = testConfig({ dbPath: join(dir, 'webhook.db'), rateLimitPerMinute: 0, ...overrides });
  const db = openDatabase(config.dbPath);
  migrate(db);
  const app = await buildApp(config, clock ? { db, clock } : { db });
  await app.ready();
  return {
    app,
    db,
    dir,
    config,
    close: async () => {
      await app.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const host = (overrides: Partial<HostIdentity> = {}): HostIdentity => ({
  hostname: 'web-01',
  machine_id: '4c1d7e2f9a8b4c3d2e1f0a9b8c7d6e5f',
  ...overrides,
});

interface RunOptions {
  runId?: string;
  host?: HostIdentity;
  start?: number;
}

/** Builds the events of one run in order; each call returns a fresh event with the next seq. */
export function runEvents(opts: RunOptions = {}) {
  const runId = opts.runId ?? randomUUID();
  const h = opts.host ?? host();
  const start = opts.start ?? Date.now();
  let seq = 0;
  const base = (offsetMs: number) => ({
    v: 1 as const,
    event_id: randomUUID(),
    run_id: runId,
    seq: seq++,
    time: new Date(start + offsetMs).toISOString(),
    host: h,
  });
  return {
    runId,
    started: (data: Partial<Extract<WebhookEvent, { kind: 'run_started' }>['data']> = {}): WebhookEvent => ({
      ...base(0),
      kind: 'run_started',
      data: {
        playbook: 'site.yml',
        ansible_version: '2.14.18',
        check_mode: false,
        commit: 'abc1234',
        repo_url: 'file:///srv/repo',
        ...data,
      },
    }),
    task: (
      status: Extract<WebhookEvent, { kind: 'task_result' }>['data']['status'] = 'ok',
      name = `task ${seq}`,
      message?: string,
    ): WebhookEvent => ({
      ...base(seq * 100),
      kind: 'task_result',
      data: {
        play: 'Configure',
        task: name,
        action: 'ansible.builtin.command',
        target: 'localhost',
        status,
        duration_ms: 12,
        no_log: false,
        ...(message ? { message } : {}),
      },
    }),
    finished: (failed = 0, extra: { result?: 'success' | 'failed'; exit_code?: number } = {}): WebhookEvent => ({
      ...base(seq * 100 + 50),
      kind: 'run_finished',
      data: {
        result: extra.result ?? (failed > 0 ? 'failed' : 'success'),
        ...(extra.exit_code !== undefined ? { exit_code: extra.exit_code } : {}),
        duration_ms: 1234,
        stats: { localhost: { ok: 3, changed: 1, failed, skipped: 0, unreachable: 0, rescued: 0, ignored: 0 } },
      },
    }),
  };
}

export async function post(app: App, body: unknown, headers: Record<string, string> = {}) {
  return app.inject({
    method: 'POST',
    url: '/webhook',
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export async function getJson<T = unknown>(
  app: App,
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T }> {
  const res = await app.inject({ method: 'GET', url, headers });
  return { status: res.statusCode, body: res.json() as T };
}
