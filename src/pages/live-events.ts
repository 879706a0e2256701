/**
 * Server-sent events for open status pages: after commits, one small `changed` event naming the
 * hosts that changed, at most once per debounce window whatever the ingest rate. Pages then
 * fetch what they show; the stream itself carries no host data.
 */
import type { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';

export interface LiveEventsOptions {
  /**
   * Each event makes every open page re-render (the fleet page takes ~0.1 s of server time at
   * 2,000 hosts, see bench/pages.ts), so a busy fleet is summarised to one event a second.
   */
  debounceMs?: number;
  /** A comment line this often keeps proxies and NAT from dropping an idle stream. */
  heartbeatMs?: number;
  maxClients?: number;
}

/** A client that stops reading is dropped before its buffer grows past this. */
const MAX_BUFFERED = 64 * 1024;

export function createLiveEvents(changes: EventEmitter<{ change: [hostIds: number[]] }>, opts: LiveEventsOptions = {}) {
  const { debounceMs = 1000, heartbeatMs = 25_000, maxClients = 200 } = opts;
  const clients = new Set<ServerResponse>();
  let pending = new Set<number>();
  let debounce: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let closed = false;

  function send(res: ServerResponse, chunk: string): void {
    if (res.writableLength > MAX_BUFFERED) {
      res.destroy();
      return;
    }
    res.write(chunk);
  }

  function broadcast(chunk: string): void {
    for (const res of clients) send(res, chunk);
  }

  function flush(): void {
    debounce = undefined;
    const hosts = [...pending];
    pending = new Set();
    broadcast(`event: changed\ndata: ${JSON.stringify({ hosts })}\n\n`);
  }

  const onChange = (hostIds: number[]) => {
    for (const id of hostIds) pending.add(id);
    // Timers are unref'd: an open page must never keep the process alive.
    debounce ??= setTimeout(flush, debounceMs).unref();
  };

  // Subscribed only while a page is open, so with none open a commit's change event reaches no one
  // and no heartbeat timer runs.
  function start(): void {
    changes.on('change', onChange);
    heartbeat = setInterval(() => broadcast(': ping\n\n'), heartbeatMs).unref();
  }

  function stop(): void {
    changes.off('change', onChange);
    clearInterval(heartbeat);
    clearTimeout(debounce);
    debounce = undefined;
    pending = new Set();
  }

  return {
    maxClients,

    /** Takes over a response whose headers are written; false when closing or full. */
    add(res: ServerResponse): boolean {
      if (closed || clients.size >= maxClients) return false;
      if (clients.size === 0) start();
      clients.add(res);
      res.once('close', () => {
        clients.delete(res);
        if (clients.size === 0 && !closed) stop();
      });
      return true;
    },

    get size(): number {
      return clients.size;
    },

    /** Ends every stream (their responses say Connection: close, so sockets go too). */
    close(): void {
      if (closed) return;
      closed = true;
      stop();
      for (const res of clients) res.end();
      clients.clear();
    },
  };
}

export type LiveEvents = ReturnType<typeof createLiveEvents>;
