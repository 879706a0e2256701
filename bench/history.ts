/**
 * Synthetic history for the query figures: HOSTS hosts with RUNS runs each over the past year,
 * TASKS task results per run (5,000 × 4 × 50 = 1,000,000 by default), written through the real
 * ingest store so the rows and indexes are what production would have.
 */
import { randomUUID } from 'node:crypto';
import { openDatabase } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';
import type { WebhookEvent } from '../src/protocol/events.js';
import { createIngestStore, type IncomingEvent } from '../src/store/ingest-store.js';

export interface HistoryShape {
  hosts: number;
  runsPerHost: number;
  tasksPerRun: number;
}

export interface History {
  hostnames: string[];
  runIds: string[];
  taskResults: number;
  seconds: number;
}

const YEAR_MS = 365 * 86_400_000;

function runOf(h: number, r: number, shape: HistoryShape, now: number): { runId: string; events: WebhookEvent[] } {
  const runId = randomUUID();
  const host = {
    hostname: `host-${h}`,
    machine_id: h.toString(16).padStart(32, '0'),
    vmid: 10_000 + h,
    ips: [`10.${h >> 8}.${h & 255}.10`],
  };
  const start = now - YEAR_MS + ((r + Math.random()) * YEAR_MS) / shape.runsPerHost;
  const failed = Math.random() < 0.1;
  const at = (ms: number) => new Date(start + ms).toISOString();
  const base = (seq: number) => ({ v: 1 as const, event_id: randomUUID(), run_id: runId, seq, time: at(seq * 2000), host });
  const events: WebhookEvent[] = [
    {
      ...base(0),
      kind: 'run_started',
      data: {
        playbook: 'site.yml',
        ansible_version: '2.14.18',
        check_mode: false,
        commit: 'abcdef1',
        repo_url: 'https://git.example/infra.git',
      },
    },
  ];
  for (let t = 1; t <= shape.tasksPerRun; t++) {
    const status = failed && t === shape.tasksPerRun ? 'failed' : t % 7 === 0 ? 'changed' : 'ok';
    events.push({
      ...base(t),
      kind: 'task_result',
      data: {
        play: 'Configure',
        task: `task number ${t}`,
        action: 'ansible.builtin.command',
        status,
        duration_ms: 1500,
        no_log: false,
        ...(status === 'failed' ? { message: 'non-zero return code' } : {}),
      },
    });
  }
  events.push({
    ...base(shape.tasksPerRun + 1),
    kind: 'run_finished',
    data: {
      result: failed ? 'failed' : 'success',
      exit_code: failed ? 2 : 0,
      duration_ms: shape.tasksPerRun * 2000,
      stats: {
        localhost: { ok: shape.tasksPerRun, changed: 7, failed: failed ? 1 : 0, skipped: 0, unreachable: 0, rescued: 0, ignored: 0 },
      },
    },
  });
  return { runId, events };
}

export function generateHistory(path: string, shape: HistoryShape): History {
  const started = performance.now();
  const db = openDatabase(path);
  migrate(db);
  const store = createIngestStore(db);
  const now = Date.now();
  const hostnames: string[] = [];
  const runIds: string[] = [];
  let pending: IncomingEvent[] = [];
  for (let r = 0; r < shape.runsPerHost; r++) {
    for (let h = 0; h < shape.hosts; h++) {
      if (r === 0) hostnames.push(`host-${h}`);
      const run = runOf(h, r, shape, now);
      runIds.push(run.runId);
      const receivedAt = Date.parse(run.events[run.events.length - 1]!.time);
      for (const event of run.events) pending.push({ event, address: `10.${h >> 8}.${h & 255}.10`, receivedAt });
      if (pending.length >= 20_000) {
        store.writeEvents(pending);
        pending = [];
      }
    }
  }
  if (pending.length > 0) store.writeEvents(pending);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.pragma('optimize');
  db.close();
  return {
    hostnames,
    runIds,
    taskResults: shape.hosts * shape.runsPerHost * shape.tasksPerRun,
    seconds: (performance.now() - started) / 1000,
  };
}
