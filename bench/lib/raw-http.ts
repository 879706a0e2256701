/**
 * HTTP/1.1 over raw sockets for the load generators: no agent and no promise per request, so one
 * process can drive 20,000 VMs, each connecting from its own address.
 */
import { connect, type Socket } from 'node:net';

/** The most of an answer kept: its head and enough of the body to find `linger_ms`. */
const ANSWER_CAP = 65_536;

/**
 * One request on a new connection from `localAddress`, as urllib sends it: written, not ended,
 * and the server closes. `done` gets the answer's text, or, when nothing came back, the socket
 * error's code ('no answer' for a plain close).
 */
export function requestOnNewConnection(
  target: { hostname: string; port: number },
  localAddress: string,
  request: string,
  timeoutMs: number,
  done: (answer: string, failure: string | undefined) => void,
): void {
  let answer = '';
  let finished = false;
  const finish = (failure: string) => {
    if (finished) return;
    finished = true;
    done(answer, answer.length > 0 ? undefined : failure);
  };
  const socket: Socket = connect({ host: target.hostname, port: target.port, localAddress });
  socket.setEncoding('latin1');
  socket.setTimeout(timeoutMs);
  socket.on('connect', () => socket.write(request));
  socket.on('data', (chunk: string) => {
    if (answer.length < ANSWER_CAP) answer += chunk;
  });
  socket.on('timeout', () => socket.destroy(new Error('timeout')));
  socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
  socket.on('close', () => finish('no answer'));
}

/** The status of an answer's text, 0 when it has none. */
export const statusOf = (answer: string): number => Number(answer.slice(9, 12)) || 0;

/** The answer's Retry-After in seconds, when it has one. */
export function retryAfterOf(answer: string): number | undefined {
  const retry = /\r\nretry-after:\s*(\d+)/i.exec(answer);
  return retry ? Number(retry[1]) : undefined;
}

/** Where an HTTP/1.1 answer ends in `text`, or -1 while it is incomplete. */
export function answerEnd(text: string): number {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return -1;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, headEnd));
  const end = headEnd + 4 + (length ? Number(length[1]) : 0);
  return text.length >= end ? end : -1;
}
