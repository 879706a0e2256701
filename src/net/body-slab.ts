/**
 * Many answers that share one body and differ only in a short head, such as the long-poll answers
 * of a host's waiters, each with its own waited_ms. Thousands answer in one turn: a string per
 * answer, of kilobytes, was most of the wake-up's garbage collection and was encoded again for the
 * socket, so the bodies are cut from slabs outside the JS heap instead.
 *
 * A fresh slab costs a page fault per 4 KiB written, about 11 µs each on a virtual machine,
 * which was a tenth of a 10,000-waiter wake-up (README, Performance). A body the kernel has
 * already taken in full is not needed any more, so its bytes are cut again for the next answer:
 * one warm slab serves a whole wake-up.
 */

/** What a sent body's bytes may still be waiting in: an http.ServerResponse. */
export interface SentTo {
  /** end() was called, so the body was handed to the socket (not held back by an async hook). */
  readonly writableEnded: boolean;
  /** Bytes still buffered by the response or its socket, waiting for the kernel to take them. */
  readonly writableLength: number;
}

/** Room for about 35 answers of 1.8 KiB when a slab cannot be reused. */
const SLAB_BYTES = 64 * 1024;

export function createBodySlab(shared: Buffer) {
  let slab: Buffer | undefined;
  let used = 0;
  let last: Buffer | undefined;

  return {
    /** `head` (Latin-1, such as `{"waited_ms":12,`) followed by the shared bytes. */
    cut(head: string): Buffer {
      const size = head.length + shared.length;
      if (slab === undefined || used + size > slab.length) {
        slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, size));
        used = 0;
      }
      const body = slab.subarray(used, used + size);
      used += size;
      body.write(head, 0, 'latin1');
      // TypedArray set is one memcpy; Buffer's copy makes a view of the source first.
      body.set(shared, head.length);
      last = body;
      return body;
    },
    /**
     * Called right after the body was sent. If the kernel took all of it during the send (a
     * loopback or LAN socket with room, the usual case), its bytes are free, and the next answer
     * is cut over them. Otherwise libuv still points at them: they stay until the slab is dropped.
     */
    sent(body: Buffer, to: SentTo): void {
      if (body !== last || !to.writableEnded || to.writableLength !== 0) return;
      used -= body.length;
      last = undefined;
    },
  };
}

export type BodySlab = ReturnType<typeof createBodySlab>;
