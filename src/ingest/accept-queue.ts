/**
 * How many connections wait in the kernel's accept queue of the socket the receiver listens on.
 * Node accepts one connection per turn of its event loop (libuv 1.45+), so when deliveries
 * arrive faster than the loop turns they queue here, outside the process, where no in-process
 * count sees them: past the backlog the kernel drops SYNs and clients wait 1 s, 3 s, 7 s for
 * their retransmits. Linux lists listening sockets first in /proc/net/tcp{,6}, with the accept
 * queue's length as rx_queue, so reading the head of the one for the socket's family every few
 * milliseconds is cheap.
 * Elsewhere (no such file) the length reads as 0.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { Server } from 'node:net';

const LISTEN = '0A';
const QUIET_READ_MS = 1000;
const HEAD_BYTES = 32 * 1024;

/** The accept queue of the listening socket on `port` in a /proc/net/tcp text; undefined when absent. */
export function acceptQueueIn(text: string, port: number): number | undefined {
  const portHex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let total: number | undefined;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    // Listening sockets come first; the first other state ends them.
    if (f[3] !== LISTEN) break;
    if (!f[1]!.endsWith(portHex)) continue;
    total = (total ?? 0) + Number.parseInt(f[4]!.split(':')[1]!, 16);
  }
  return total;
}

/** A line of a socket that is not listening: the listening sockets are all above it. */
const PAST_LISTENERS = /\n\s*\d+: \S+ \S+ (?!0A )/;

/**
 * The head of a /proc/net/tcp file, up to the end of its listening sockets: one page read is
 * about 0.1 ms, where reading on makes the kernel walk every connection (tcp6 on an IPv4-only
 * host: all of them, to find none; 4.7 ms with 17,000 sockets in TIME_WAIT).
 */
function readListeners(path: string, buffer: Buffer): string {
  const fd = openSync(path, 'r');
  try {
    let n = 0;
    for (let got = 1; got > 0 && n < buffer.length; n += got) {
      got = readSync(fd, buffer, n, buffer.length - n, null);
      if (PAST_LISTENERS.test(buffer.toString('latin1', 0, n + got))) return buffer.toString('latin1', 0, n + got);
    }
    return buffer.toString('latin1', 0, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * Samples the accept queue of `port` every `everyMs`. `length` is the last reading less the
 * connections `server` has accepted since, so a connection is not counted both as waiting in
 * the kernel and as a request in flight.
 *
 * With `server`, a quiet receiver reads the file only once a second: while connections wait,
 * the loop accepts one each turn, so a last reading of 0 and no accept since mean none are
 * waiting. Reading every 20 ms on an idle receiver cost 2-3 % of a core.
 */
export function watchAcceptQueue(port: number, family: 'IPv4' | 'IPv6', server?: Server, everyMs = 20) {
  const path = family === 'IPv6' ? '/proc/net/tcp6' : '/proc/net/tcp';
  const buffer = Buffer.allocUnsafe(HEAD_BYTES);
  let sampled = 0;
  let acceptedSince = 0;
  let readable = true;
  let readAt = 0;
  const accepted = () => {
    acceptedSince += 1;
  };
  server?.on('connection', accepted);
  const sample = () => {
    if (!readable) return;
    const now = performance.now();
    if (server && sampled === 0 && acceptedSince === 0 && now - readAt < QUIET_READ_MS) return;
    readAt = now;
    try {
      sampled = acceptQueueIn(readListeners(path, buffer), port) ?? 0;
      acceptedSince = 0;
    } catch {
      readable = false;
      sampled = 0;
    }
  };
  const timer = setInterval(sample, everyMs);
  timer.unref();
  return {
    get length(): number {
      return Math.max(0, sampled - acceptedSince);
    },
    stop: () => {
      clearInterval(timer);
      server?.off('connection', accepted);
    },
  };
}

export type AcceptQueueWatch = ReturnType<typeof watchAcceptQueue>;
