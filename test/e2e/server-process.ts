/** Runs the built service (dist/src/server.js) as a real process on a free port, for end-to-end tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = join(import.meta.dirname, '..', '..');
const SERVER = join(ROOT, 'dist', 'src', 'server.js');

export interface ServerProcess {
  url: string;
  proc: ChildProcess;
  logs: Array<Record<string, unknown>>;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>;
  stop: (signal?: NodeJS.Signals) => Promise<number | string>;
}

/** Starts the receiver with WEBHOOK_* env on port 0 and waits for its ready log line. */
export async function startServer(env: Record<string, string>, timeoutMs = 15_000): Promise<ServerProcess> {
  const proc = spawn(process.execPath, [SERVER], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', WEBHOOK_HOST: '127.0.0.1', WEBHOOK_PORT: '0', WEBHOOK_LOG_LEVEL: 'info', WEBHOOK_RATE_LIMIT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not become ready: ${stderr}`)), timeoutMs);
    void exited.then((code) => reject(new Error(`server exited with ${code} before ready: ${stderr}`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'webhook receiver ready') {
          clearTimeout(timer);
          resolve(String(entry.address));
        }
      } catch {
        logs.push({ raw: line });
      }
    });
  });
  return {
    url,
    proc,
    logs,
    exited,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** A port that was free a moment ago, for tests that must restart a receiver on the same port. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
