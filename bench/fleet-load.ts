/**
 * The fleet's load generator, run as its own process (the bench pins it to the other core):
 * N VMs each run a play and report it the way ansible/callback_plugins/webhook_status.py does.
 * - On the first queued event the sender lingers up to 2 s or 100 events, then posts one batch;
 *   one request in flight per VM; at the end of the play it flushes without lingering. An answer
 *   with `linger_ms` (the receiver's pacing) makes it linger at least that long until the next.
 * - With keepAlive (the plugin's default) a VM keeps one connection for its run, as http.client
 *   does; without it every request opens a new connection with `Connection: close`, as urllib does.
 * - A retryable answer (408, 429, 5xx) or a failed connection is retried with the same batch
 *   after Retry-After or a backoff doubling from 0.5 s to 30 s; a request times out after 5 s.
 * - Each VM connects from its own loopback address (127.x.y.z), so the kernel sees 20,000 peers.
 * One scheduler tick walks every VM (no timer or promise per event) and sockets are raw `net`
 * connections, so the generator stays cheap at 20,000 VMs; it reports its own event-loop delay
 * to show that it is not what limits the figures. A kept-alive GET /healthz every 100 ms shows
 * whether the receiver's event loop answers while its connections wait.
 *
 * Input: one JSON argument (FleetLoadOptions). Output: one line `FLEET_LOAD <json>` on stdout.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Agent, get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { answerEnd, requestOnNewConnection, retryAfterOf, statusOf } from './lib/raw-http.js';

export interface FleetLoadOptions {
  url: string;
  vms: number;
  /** Every VM starts within this many seconds. */
  startWithinS: number;
  tasks: number;
  /** A play's tasks are spread over this many seconds. */
  playS: number;
  /** Harsh mode: every VM queues its whole play at t=0 and sends it as fast as it is taken. */
  harsh?: boolean;
  /** Gives up on what is left after this many seconds past the end of the last play. */
  drainS?: number;
  /**
   * Each VM keeps one connection for its run (the plugin's default since it posts with
   * http.client) instead of a new connection per request with `Connection: close` (urllib).
   */
  keepAlive?: boolean;
}

export interface FleetLoadResult {
  vms: number;
  eventsProduced: number;
  eventsDelivered: number;
  requests: number;
  /** Answers 429/503 that carried Retry-After: load shed as designed. */
  shed: number;
  /** Anything else that was not a 2xx: refused or reset connections, timeouts, other statuses. */
  errors: number;
  errorKinds: Record<string, number>;
  latency: Percentiles;
  /** Of the requests answered 2xx only. */
  acceptedLatency: Percentiles;
  /** Produced to acknowledged, per event (includes lingering and retries). */
  lag: Percentiles;
  healthz: Percentiles & { count: number };
  loopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
  generatorCpuPercent: number;
  seconds: number;
  /**
   * Per second: requests answered, shed, errors, the worst latency seen that second, and the
   * generator's own worst lateness of its tick (so a slow second can be told apart from a slow client).
   */
  timeline: Array<{ t: number; answered: number; shed: number; errors: number; maxMs: number; tickLateMs: number }>;
}

export interface Percentiles {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const LINGER_MS = 2000;
const BATCH = 100;
const TIMEOUT_MS = 5000;
const TICK_MS = 10;
/**
 * Most time one tick spends building and writing requests; the rest wait for the next tick. The
 * harsh mode has every VM send 100 events at once, and writing 5,000 such requests in one tick
 * held the generator for seconds, counted as the receiver's latency for every request in flight.
 */
const SEND_BUDGET_MS = 20;

/**
 * A batch is a range of the VM's events, [from, to): events are produced in order and sent in
 * order, so a VM holds numbers, never strings. Its JSON is built when it is sent (again on a
 * retry, identically: ids and times derive from the VM, the seq and the production time). Holding
 * every lingering event as a string made the generator promote about 25 MB/s to its old space at
 * 10,000 VMs; each major GC then took its core for 100-300 ms, and those stalls were counted as
 * the receiver's latency.
 */
interface Batch {
  from: number;
  to: number;
}

interface Vm {
  /** Loopback address this VM connects from. */
  address: string;
  host: string;
  runId: string;
  /** Its index, in the random bits of its event ids. */
  index: number;
  /** Times (ms since start) at which each event is produced; `next` is the first not produced yet. */
  at: Float64Array;
  next: number;
  /** The first event produced and not yet sent: events [unsent, next) wait for the next batch. */
  unsent: number;
  inflight: Batch | null;
  sending: boolean;
  retryAt: number;
  backoffMs: number;
  /** The kept-alive connection, when there is one. */
  socket: Socket | null;
  /** The receiver's latest pacing advice (linger_ms), 0 for none. */
  lingerMs: number;
}

/** 127.(1+i/65536).(i/256%256).(i%256), skipping .0 so no VM sits on a network address. */
export function loopbackAddress(i: number): string {
  const n = i + 1;
  return `127.${1 + ((n >> 16) & 255)}.${(n >> 8) & 255}.${n & 255}`;
}

export function percentiles(values: ArrayLike<number>): Percentiles {
  if (values.length === 0) return { p50Ms: 0, p99Ms: 0, maxMs: 0 };
  const s = Float64Array.from(values).sort();
  const at = (p: number) => Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))]! * 10) / 10;
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: Math.round(s[s.length - 1]! * 10) / 10 };
}

/** This run's random part of every event id, so two runs never share ids. */
const SALT = randomBytes(4).toString('hex');

/**
 * A time-ordered UUID (version 7), as the plugin makes its event ids: Unix milliseconds first.
 * Its other bits name the VM and the seq instead of being random, so a resent batch carries the
 * same ids without the generator keeping them.
 */
function uuidv7(ms: number, vm: number, seq: number): string {
  const h = Math.floor(ms).toString(16).padStart(12, '0');
  const v = vm.toString(16).padStart(8, '0');
  const q = seq.toString(16).padStart(4, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-7${q.slice(1, 4)}-${(8 + (seq >> 12)).toString(16)}${v.slice(0, 3)}-${v.slice(3)}${SALT.slice(0, 7)}`;
}

function eventJson(vm: Vm, seq: number, tasks: number, epochMs: number): string {
  const ms = epochMs + vm.at[seq]!;
  const head = `{"v":1,"event_id":"${uuidv7(ms, vm.index, seq)}","run_id":"${vm.runId}","seq":${seq},"time":"${new Date(ms).toISOString()}","host":${vm.host},`;
  if (seq === 0)
    return `${head}"kind":"run_started","data":{"playbook":"site.yml","ansible_version":"2.14.18","check_mode":false,"commit":"abcdef1"}}`;
  if (seq === tasks + 1) {
    return `${head}"kind":"run_finished","data":{"result":"success","exit_code":0,"duration_ms":1,"stats":{"localhost":{"ok":${tasks},"changed":10,"failed":0,"skipped":0,"unreachable":0,"rescued":0,"ignored":0}}}}`;
  }
  return `${head}"kind":"task_result","data":{"play":"Configure","task":"task ${seq}","action":"ansible.builtin.command","status":"${seq % 10 === 0 ? 'changed' : 'ok'}","duration_ms":40,"no_log":false}}`;
}

export async function runFleetLoad(o: FleetLoadOptions): Promise<FleetLoadResult> {
  const target = new URL(o.url);
  const port = Number(target.port);
  const hostHeader = target.host;
  const total = o.tasks + 2;
  const vms: Vm[] = Array.from({ length: o.vms }, (_, i) => {
    const start = o.harsh ? 0 : Math.random() * o.startWithinS * 1000;
    const at = new Float64Array(total);
    const gap = (o.playS * 1000) / o.tasks;
    let t = start;
    for (let k = 0; k < total; k++) {
      at[k] = o.harsh ? 0 : t;
      t += gap * (0.5 + Math.random());
    }
    const host = JSON.stringify({
      hostname: `vm-${i}`,
      machine_id: randomUUID().replaceAll('-', ''),
      vmid: 1000 + i,
      ips: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`],
    });
    return {
      address: loopbackAddress(i),
      host,
      runId: randomUUID(),
      index: i,
      at,
      next: 0,
      unsent: 0,
      inflight: null,
      sending: false,
      retryAt: 0,
      backoffMs: 500,
      socket: null,
      lingerMs: 0,
    };
  });
  const lastPlayEnd = Math.max(...vms.map((v) => v.at[total - 1]!));

  const latencies: number[] = [];
  const okLatencies: number[] = [];
  const lags = new Float64Array(o.vms * total);
  const errorKinds: Record<string, number> = {};
  let produced = 0;
  let delivered = 0;
  let requests = 0;
  let shed = 0;
  let errors = 0;
  const timeline: FleetLoadResult['timeline'] = [];
  const second = (t: number) => {
    const s = Math.floor(t / 1000);
    while (timeline.length <= s) timeline.push({ t: timeline.length, answered: 0, shed: 0, errors: 0, maxMs: 0, tickLateMs: 0 });
    return timeline[s]!;
  };

  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const epoch = Date.now();
  const now = () => performance.now() - t0;

  const fail = (vm: Vm, kind: string, retryAfterS: number | undefined, started: number) => {
    const t = now();
    if (kind === '429' || kind === '503') {
      if (retryAfterS !== undefined) shed++;
      else {
        errors++;
        errorKinds[`${kind} without Retry-After`] = (errorKinds[`${kind} without Retry-After`] ?? 0) + 1;
      }
      second(t).shed++;
    } else {
      errors++;
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
      second(t).errors++;
    }
    latencies.push(t - started);
    vm.retryAt = t + (retryAfterS !== undefined ? retryAfterS * 1000 : vm.backoffMs);
    vm.backoffMs = Math.min(vm.backoffMs * 2, 30_000);
    vm.sending = false;
  };

  /** What an answer says: its status, Retry-After, and whether the server closes the connection. */
  const settle = (vm: Vm, batch: Batch, answer: string, started: number) => {
    const status = statusOf(answer);
    if (status >= 200 && status < 300) {
      const t = now();
      latencies.push(t - started);
      okLatencies.push(t - started);
      const sec = second(t);
      sec.answered++;
      sec.maxMs = Math.max(sec.maxMs, t - started);
      for (let k = batch.from; k < batch.to; k++) lags[delivered++] = t - vm.at[k]!;
      // As the plugin does: the answer's linger_ms, when there is one, until the next answer.
      const advice = /"linger_ms":(\d+)/.exec(answer);
      vm.lingerMs = advice ? Math.min(Number(advice[1]), 300_000) : 0;
      vm.inflight = null;
      vm.sending = false;
      vm.backoffMs = 500;
      // The plugin closes its connection when the run's last event is acknowledged.
      if (vm.next === total && vm.unsent === total) dropSocket(vm);
      return;
    }
    fail(vm, status > 0 ? String(status) : 'no answer', retryAfterOf(answer), started);
  };

  const dropSocket = (vm: Vm) => {
    vm.socket?.destroy();
    vm.socket = null;
  };

  const send = (vm: Vm) => {
    const batch = vm.inflight!;
    const events: string[] = [];
    for (let k = batch.from; k < batch.to; k++) events.push(eventJson(vm, k, o.tasks, epoch));
    const body = `{"events":[${events.join(',')}]}`;
    const connection = o.keepAlive ? 'keep-alive' : 'close';
    const head = `POST /webhook HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: webhook-status-callback/1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: ${connection}\r\n\r\n`;
    const started = now();
    vm.sending = true;
    requests++;
    if (o.keepAlive) return sendKeptAlive(vm, batch, head + body, started);
    requestOnNewConnection({ hostname: target.hostname, port }, vm.address, head + body, TIMEOUT_MS, (answer, failure) =>
      failure === undefined ? settle(vm, batch, answer, started) : fail(vm, failure, undefined, started),
    );
  };

  /**
   * As http.client does: the request goes on the VM's open connection, or a new one; a reused
   * connection that the server closed while idle is retried once on a fresh one, uncounted.
   */
  const sendKeptAlive = (vm: Vm, batch: Batch, request: string, started: number) => {
    const reused = vm.socket !== null;
    const socket = vm.socket ?? connect({ host: target.hostname, port, localAddress: vm.address });
    if (!reused) {
      socket.setEncoding('latin1');
      socket.setNoDelay(true);
      vm.socket = socket;
    }
    let answer = '';
    let done = false;
    const finish = () => {
      done = true;
      socket.setTimeout(0);
      socket.removeAllListeners('data');
      socket.removeAllListeners('timeout');
      socket.removeAllListeners('error');
      socket.removeAllListeners('close');
      // An idle connection the server closes is simply forgotten.
      socket.on('error', () => undefined);
      socket.on('close', () => {
        if (vm.socket === socket) vm.socket = null;
      });
    };
    const lost = (kind: string) => {
      if (done) return;
      finish();
      if (vm.socket === socket) vm.socket = null;
      socket.destroy();
      if (reused && answer.length === 0) return sendKeptAlive(vm, batch, request, started);
      fail(vm, kind, undefined, started);
    };
    socket.setTimeout(TIMEOUT_MS);
    socket.on('data', (chunk: string) => {
      answer += chunk;
      const end = answerEnd(answer);
      if (end < 0) return;
      finish();
      if (/\r\nconnection:\s*close/i.test(answer.slice(0, end))) dropSocket(vm);
      settle(vm, batch, answer, started);
    });
    socket.on('timeout', () => lost('timeout'));
    socket.on('error', (err: NodeJS.ErrnoException) => lost(err.code ?? err.message));
    socket.on('close', () => lost('no answer'));
    socket.write(request);
  };

  /** Whether the VM sends now: a retry that is due, or a batch the plugin would post. */
  const step = (vm: Vm, t: number): boolean => {
    if (vm.sending) return false;
    if (vm.inflight !== null) return t >= vm.retryAt;
    const waiting = vm.next - vm.unsent;
    if (waiting === 0) return false;
    const playDone = vm.next === total;
    if (!(o.harsh || playDone || waiting >= BATCH || t - vm.at[vm.unsent]! >= Math.max(LINGER_MS, vm.lingerMs))) return false;
    const to = Math.min(vm.next, vm.unsent + BATCH);
    vm.inflight = { from: vm.unsent, to };
    vm.unsent = to;
    return true;
  };

  // Where the last tick ran out of its send budget: the next one starts there, so no VM waits twice.
  let cursor = 0;
  const tick = () => {
    const t = now();
    for (const vm of vms) {
      while (vm.next < total && vm.at[vm.next]! <= t) {
        vm.next++;
        produced++;
      }
    }
    const budgetEnd = performance.now() + SEND_BUDGET_MS;
    for (let n = 0; n < vms.length; n++) {
      const i = (cursor + n) % vms.length;
      const vm = vms[i]!;
      if (!step(vm, t)) continue;
      send(vm);
      // Timed only after a send: reading the clock for every VM would cost more than the sends.
      if (performance.now() > budgetEnd) {
        cursor = (i + 1) % vms.length;
        return;
      }
    }
  };

  // The kept-alive probe: one connection, one GET /healthz every 100 ms.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const probes: number[] = [];
  const probe = setInterval(() => {
    const started = performance.now();
    get({ host: target.hostname, port, path: '/healthz', agent }, (res) => {
      res.resume();
      res.on('end', () => probes.push(performance.now() - started));
    }).on('error', () => undefined);
  }, 100);

  await new Promise<void>((resolve) => {
    const deadline = lastPlayEnd + (o.drainS ?? 60) * 1000;
    let lastTick = now();
    const timer = setInterval(() => {
      const t = now();
      const s = second(t);
      s.tickLateMs = Math.max(s.tickLateMs, Math.round(t - lastTick - TICK_MS));
      lastTick = t;
      tick();
      const idle = delivered === vms.length * total;
      if (idle || now() > deadline) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  clearInterval(probe);
  agent.destroy();
  loop.disable();
  const seconds = now() / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    vms: o.vms,
    eventsProduced: produced,
    eventsDelivered: delivered,
    requests,
    shed,
    errors,
    errorKinds,
    latency: percentiles(latencies),
    acceptedLatency: percentiles(okLatencies),
    lag: percentiles(lags.subarray(0, delivered)),
    healthz: { ...percentiles(probes), count: probes.length },
    loopDelay: {
      p50Ms: Math.round(loop.percentile(50) / 1e5) / 10,
      p99Ms: Math.round(loop.percentile(99) / 1e5) / 10,
      maxMs: Math.round(loop.max / 1e5) / 10,
    },
    generatorCpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / seconds) * 100),
    seconds: Math.round(seconds * 10) / 10,
    timeline,
  };
}

if (process.argv[1] === import.meta.filename) {
  const result = await runFleetLoad(JSON.parse(process.argv[2]!) as FleetLoadOptions);
  process.stdout.write(`FLEET_LOAD ${JSON.stringify(result)}\n`);
}
