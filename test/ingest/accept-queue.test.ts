/** src/ingest/accept-queue.ts: reading a listening socket's accept queue from /proc/net/tcp. */
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { acceptQueueIn, watchAcceptQueue } from '../../src/ingest/accept-queue.js';
import { eventually } from '../eventually.js';

const SAMPLE = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:23E7 00000000:0000 0A 00000000:0000002A 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0
   2: 0100007F:23E7 0100007F:A001 01 00000000:00000010 00:00000000 00000000     0        0 1003 1 0000000000000000 20 4 30 10 -1
`;

describe('acceptQueueIn', () => {
  it('reads rx_queue of the listening socket on the port, and stops at the first socket that is not listening', () => {
    expect(acceptQueueIn(SAMPLE, 9191)).toBe(42);
    expect(acceptQueueIn(SAMPLE, 22)).toBe(3);
    expect(acceptQueueIn(SAMPLE, 8080)).toBeUndefined();
  });
});

describe('watchAcceptQueue', () => {
  it.skipIf(!existsSync('/proc/net/tcp'))('sees connections waiting on a socket that listens but does not accept', async () => {
    // A listener that never calls accept(): its connections stay in the kernel's queue.
    const child = spawn(
      '/usr/bin/python3',
      [
        '-c',
        'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(64)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(30)',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const held: Socket[] = [];
    try {
      const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
      const watch = watchAcceptQueue(port, 'IPv4', undefined, 5);
      for (let i = 0; i < 5; i++) held.push(connect({ host: '127.0.0.1', port }).on('error', () => undefined));
      await eventually(() => expect(watch.length).toBe(5));
      watch.stop();
    } finally {
      for (const s of held) s.destroy();
      child.kill();
    }
  });
});
