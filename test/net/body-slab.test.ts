import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createBodySlab } from '../../src/net/body-slab.js';

const shared = Buffer.from(`"finished":true,"pad":"${'x'.repeat(1800)}"}`);
const written = { writableEnded: true, writableLength: 0 };

describe('body slab', () => {
  it('cuts the head followed by the shared bytes', () => {
    const slab = createBodySlab(shared);
    const body = slab.cut('{"waited_ms":12,');
    expect(JSON.parse(body.toString())).toEqual({ waited_ms: 12, finished: true, pad: 'x'.repeat(1800) });
  });

  it('cuts the next body over one the kernel took in full', () => {
    const slab = createBodySlab(shared);
    const first = slab.cut('{"waited_ms":1,');
    slab.sent(first, written);
    const second = slab.cut('{"waited_ms":2,');
    expect(second.buffer).toBe(first.buffer);
    expect(second.byteOffset).toBe(first.byteOffset);
    expect(JSON.parse(second.toString()).waited_ms).toBe(2);
  });

  it('keeps the bytes of a body still waiting to be written, or not yet handed to the socket', () => {
    for (const pending of [
      { writableEnded: true, writableLength: 512 },
      { writableEnded: false, writableLength: 0 },
    ]) {
      const slab = createBodySlab(shared);
      const first = slab.cut('{"waited_ms":1,');
      const before = first.toString();
      slab.sent(first, pending);
      const second = slab.cut('{"waited_ms":22,');
      expect(second.byteOffset).toBeGreaterThanOrEqual(first.byteOffset + first.length);
      expect(first.toString()).toBe(before);
      expect(JSON.parse(second.toString()).waited_ms).toBe(22);
    }
  });

  it('reuses only the last body cut, once', () => {
    const slab = createBodySlab(shared);
    const a = slab.cut('{"waited_ms":1,');
    const b = slab.cut('{"waited_ms":2,');
    const aText = a.toString();
    // a is under b: freeing it would hand b's bytes out again.
    slab.sent(a, written);
    slab.sent(b, written);
    slab.sent(b, written);
    const c = slab.cut('{"waited_ms":3,');
    const d = slab.cut('{"waited_ms":4,');
    expect(c.byteOffset).toBe(b.byteOffset);
    expect(d.byteOffset).toBe(b.byteOffset + b.length);
    expect(a.toString()).toBe(aText);
  });

  it('starts a new slab when a body does not fit, and fits a body larger than a slab', () => {
    const big = Buffer.from(`"pad":"${'y'.repeat(100_000)}"}`);
    const slab = createBodySlab(big);
    const body = slab.cut('{"waited_ms":5,');
    expect(JSON.parse(body.toString()).pad).toHaveLength(100_000);
    const small = createBodySlab(shared);
    const kept = Array.from({ length: 50 }, (_, i) => small.cut(`{"waited_ms":${i},`));
    expect(new Set(kept.map((b) => b.buffer)).size).toBeGreaterThan(1);
    expect(kept.map((b) => JSON.parse(b.toString()).waited_ms)).toEqual(kept.map((_, i) => i));
  });

  it('rests on what Node reports right after end(): a small body taken in full, a large one to a stalled reader not', async () => {
    const seen: { writableEnded: boolean; writableLength: number }[] = [];
    const server = createServer((req, res: ServerResponse) => {
      const body = Buffer.alloc(req.url === '/large' ? 32 * 1024 * 1024 : 2048, 0x61);
      res.end(body);
      seen.push({ writableEnded: res.writableEnded, writableLength: res.writableLength });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const get = (path: string, read: boolean) =>
      new Promise<void>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
          if (read) {
            res.resume();
            res.on('end', resolve);
          } else {
            // A reader that stalls: the kernel's buffers fill and the rest waits in Node.
            res.pause();
            setTimeout(() => {
              req.destroy();
              resolve();
            }, 200);
          }
        });
        req.on('error', reject);
        req.end();
      });
    await get('/small', true);
    await get('/large', false);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    expect(seen[0]).toEqual({ writableEnded: true, writableLength: 0 });
    expect(seen[1]!.writableEnded).toBe(true);
    expect(seen[1]!.writableLength).toBeGreaterThan(0);
  });
});
