/**
 * The child process of src/net/acceptors.ts: receives the listening socket's handle over IPC and
 * sends it back `copies` times. Each message carries the socket as a new descriptor (SCM_RIGHTS),
 * which is the point. It never accepts, and exits when the parent closes the channel: a handle
 * still queued when the sender disconnects is lost.
 */
// `on`, not `once`: the listener is what keeps the channel, and so this process, alive.
process.on('message', (message: { copies: number }, handle: unknown) => {
  let left = message.copies;
  const next = (): void => {
    if (left === 0) return;
    left -= 1;
    process.send?.('copy', handle as never, {}, next);
  };
  next();
});
