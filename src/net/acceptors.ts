/**
 * More descriptors for the listening socket, each watched by a server of its own that hands its
 * connections to the HTTP server, so one turn of the event loop accepts up to that many.
 *
 * Why: libuv 1.45+ (Node 20) accepts one connection per descriptor per turn of the loop. A busy
 * receiver's turns are long, so a fleet that connects at once (harsh mode: 5,000 VMs, every event
 * queued) waited in the kernel's accept queue past the senders' 5 s timeout, retried, and
 * overflowed the queue (13,000-15,000 timeouts a run). Node 20 has no SO_REUSEPORT option, so
 * the copies are the same socket: a child process gets its handle over IPC and sends it back,
 * and each message arrives as a new descriptor (SCM_RIGHTS). The kernel keeps one queue; the
 * loop polls each descriptor, and each one ready gives one accept.
 */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Server, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../logger.js';

// Next to this module in dist/src/net (the built service); from src/net (tests run the sources),
// where test/global-setup.ts compiles it.
const ECHO_SCRIPT = ['./acceptor-echo.js', '../../dist/src/net/acceptor-echo.js']
  .map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
  .find((file) => existsSync(file));

/** How long the child may take to send the copies back before the receiver goes on without them. */
const ECHO_TIMEOUT_MS = 5000;

export interface Acceptors {
  /** Descriptors accepting, the server's own included. */
  readonly count: number;
  /** Stops the copies accepting; resolves once their connections closed, or after `waitMs`. */
  close(waitMs: number): Promise<void>;
}

/** Logs the first of a run of errors, then at most one line a second with how many came since. */
function throttledWarning(logger: Logger, message: string): (err: Error) => void {
  let last = -Infinity;
  let since = 0;
  return (err) => {
    since += 1;
    const now = performance.now();
    if (now - last < 1000) return;
    logger.warn({ err, count: since }, message);
    last = now;
    since = 0;
  };
}

/** Receives `copies` descriptors of the socket `server` listens on, from a child process. */
function receiveCopies(server: Server, copies: number): Promise<unknown[]> {
  const handle = (server as unknown as { _handle?: unknown })._handle;
  if (ECHO_SCRIPT === undefined) return Promise.reject(new Error('the helper script is missing'));
  if (handle == null) return Promise.reject(new Error('the server is not listening'));
  return new Promise((resolve, reject) => {
    const got: unknown[] = [];
    // No environment (it holds the service's secrets) and none of the server's node flags.
    const child = fork(ECHO_SCRIPT, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [], env: {} });
    // Copies received before a failure are closed: an open one would keep the socket listening.
    const fail = (err: Error) => {
      clearTimeout(timer);
      for (const copy of got.splice(0)) (copy as { close?: () => void }).close?.();
      reject(err);
    };
    const timer = setTimeout(() => {
      child.kill();
      fail(new Error(`the helper sent ${got.length} of ${copies} copies in ${ECHO_TIMEOUT_MS} ms`));
    }, ECHO_TIMEOUT_MS);
    child.on('message', (_message, copy) => {
      if (copy === undefined) return;
      got.push(copy);
      if (got.length === copies) {
        clearTimeout(timer);
        child.disconnect();
        resolve(got);
      }
    });
    child.once('error', fail);
    // It exits on its own only when something went wrong; once done, the parent disconnects it.
    child.once('exit', (code, signal) => {
      if (got.length < copies) fail(new Error(`the helper exited (${signal ?? code}) after ${got.length} of ${copies} copies`));
    });
    child.send({ copies }, handle as never);
  });
}

/**
 * Adds `copies` acceptors to a listening `server`, each passing its connections to the server's
 * 'connection' listeners (the HTTP server's own). `backlog` is the server's: listening on a copy
 * sets the socket's accept queue again. Without them, the receiver still serves: a failure is
 * logged and the server's own descriptor accepts alone.
 */
export async function addAcceptors(server: Server, copies: number, backlog: number, logger: Logger): Promise<Acceptors> {
  const servers: Server[] = [];
  const acceptFailed = throttledWarning(logger, 'accepting a connection failed (out of descriptors?); the sender will retry');
  // A failed accept() is an 'error' on its server, fatal without a listener; libuv already
  // sheds the connection itself when the process is out of descriptors (EMFILE).
  server.on('error', acceptFailed);
  if (copies > 0) {
    try {
      for (const copy of await receiveCopies(server, copies)) {
        const s = new Server((socket: Socket) => server.emit('connection', socket));
        s.on('error', acceptFailed);
        s.listen(copy as never, backlog);
        servers.push(s);
      }
    } catch (err) {
      logger.warn({ err }, 'could not add acceptors to the listening socket; accepting on one descriptor');
    }
  }
  return {
    count: servers.length + 1,
    close: (waitMs) => {
      const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      return Promise.race([Promise.all(closed).then(() => undefined), delay(waitMs, undefined, { ref: false })]);
    },
  };
}
