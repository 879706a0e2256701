/**
 * One VM of the steady fleet (bench/steady-load.ts): its identity, the events it sends (a run's
 * and the wrapper's check-in, as the plugin builds them) and its POST: a new connection from its
 * own loopback address with `Connection: close`, signed with its own key when there is a master.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { vmSecret } from '../src/auth/vm-keys.js';
import { secretKey, sign } from '../src/ingest/signature.js';
import { loopbackAddress } from './fleet-load.js';
import { requestOnNewConnection, retryAfterOf, statusOf } from './lib/raw-http.js';

/** What the fleet does, shared by both modes. */
export interface SteadyFleet {
  url: string;
  vms: number;
  intervalS: number;
  /** Share of invocations that find a new commit and run the play. */
  runShare: number;
  /** Share of those runs in which one task changes something (the rest change nothing). */
  changedShare: number;
  tasks: number;
  /** A run's tasks are spread over this many seconds. */
  playS: number;
  /** Signs with per-VM keys derived from this master; unset sends unsigned requests. */
  master?: string;
}

const TIMEOUT_MS = 5000;
const REPO = 'https://git.example.com/infra/vm-config.git';
const TASK_NAMES: Array<[string, string]> = [
  ['ansible.builtin.apt', 'Install the base packages'],
  ['ansible.builtin.template', 'Render /etc/ssh/sshd_config'],
  ['ansible.builtin.systemd_service', 'Enable and start node_exporter'],
  ['ansible.builtin.copy', 'Install the internal CA bundle'],
  ['ansible.builtin.lineinfile', 'Set the journald retention'],
  ['ansible.builtin.user', 'Create the deploy user'],
  ['ansible.posix.authorized_key', 'Install the deploy SSH keys'],
  ['ansible.builtin.file', 'Create the application directories'],
  ['ansible.builtin.command', 'Check the running kernel'],
  ['ansible.builtin.apt', 'Install the monitoring agent'],
];

/** A number in [0, 1) fixed by its inputs, so separate sample runs agree on what ran. */
export function draw(...parts: Array<string | number>): number {
  return createHash('sha256').update(parts.join(':')).digest().readUInt32BE(0) / 2 ** 32;
}

/** A version-4-shaped UUID fixed by its inputs (random-looking, as real ones are, for the indexes). */
export function fixedUuid(...parts: Array<string | number>): string {
  const h = createHash('sha256').update(parts.join(':')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const commitOf = (k: number) => createHash('sha1').update(`commit ${k}`).digest('hex');

export interface Vm {
  i: number;
  address: string;
  hostname: string;
  host: string;
  key: Buffer | undefined;
}

export function makeVm(i: number, master: string | undefined): Vm {
  const hostname = `vm-${String(i).padStart(5, '0')}`;
  const host = JSON.stringify({
    hostname,
    machine_id: createHash('md5').update(hostname).digest('hex'),
    vmid: 1000 + i,
    ips: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`],
  });
  return { i, address: loopbackAddress(i), hostname, host, key: master ? secretKey(vmSecret(master, hostname)) : undefined };
}

/** The events of one run (run_started, the tasks, run_finished), mostly ok, as JSON. */
export function runEvents(vm: Vm, runId: string, k: number, o: SteadyFleet): string[] {
  const changed = draw('changed', vm.i, k) < o.changedShare;
  const head = (seq: number, kind: string) =>
    `{"v":1,"event_id":"${randomUUID()}","run_id":"${runId}","seq":${seq},"time":"${new Date().toISOString()}","host":${vm.host},"kind":"${kind}",`;
  const out = [
    `${head(0, 'run_started')}"data":{"playbook":"site.yml","repo_url":"${REPO}","commit":"${commitOf(k + 1)}","ansible_version":"2.14.18","check_mode":false}}`,
  ];
  let skipped = 0;
  for (let n = 1; n <= o.tasks; n++) {
    const [action, name] = TASK_NAMES[n % TASK_NAMES.length]!;
    const status = changed && n === 2 ? 'changed' : n % 10 === 9 ? 'skipped' : 'ok';
    if (status === 'skipped') skipped++;
    const message = status === 'skipped' ? ',"message":"Conditional result was False"' : '';
    const task = n > TASK_NAMES.length ? `${name} (${Math.floor(n / TASK_NAMES.length)})` : name;
    out.push(
      `${head(n, 'task_result')}"data":{"play":"Configure the VM","task":"${task}","action":"${action}","target":"localhost","status":"${status}","duration_ms":${20 + ((n * 7919) % 1500)}${message}}}`,
    );
  }
  const ok = o.tasks - skipped - (changed ? 1 : 0);
  out.push(
    `${head(o.tasks + 1, 'run_finished')}"data":{"result":"success","exit_code":0,"duration_ms":${o.playS * 1000},"stats":{"localhost":{"ok":${ok},"changed":${changed ? 1 : 0},"failed":0,"skipped":${skipped},"unreachable":0,"rescued":0,"ignored":0}}}}`,
  );
  return out;
}

/** The check-in the wrapper sends after invocation `k`: `ran` with the new commit, or `skipped`. */
export function checkinEvent(vm: Vm, runId: string, k: number, ran: boolean, o: SteadyFleet): string {
  const before = commitOf(k);
  const after = ran ? commitOf(k + 1) : before;
  const duration = ran ? o.playS * 1000 + 4000 : 1500 + Math.floor(draw('fetch', vm.i, k) * 1500);
  return `{"v":1,"kind":"checkin","event_id":"${randomUUID()}","run_id":"${runId}","seq":0,"time":"${new Date().toISOString()}","host":${vm.host},"data":{"result":"${ran ? 'ran' : 'skipped'}","exit_code":0,"commit_before":"${before}","commit_after":"${after}","duration_ms":${duration},"interval_seconds":${o.intervalS},"repo_url":"${REPO}","playbook":"site.yml"}}`;
}

export interface Answer {
  status: number;
  ms: number;
  retryAfterS: number | undefined;
  /** Set when there was no HTTP answer: the socket error's code. */
  failure: string | undefined;
}

/** One POST /webhook on a new connection from the VM's address, signed when the VM has a key. */
export function post(target: URL, vm: Vm, events: string[]): Promise<Answer> {
  const body = `{"events":[${events.join(',')}]}`;
  let signature = '';
  if (vm.key) {
    const id = `msg_${randomBytes(16).toString('hex')}`;
    const ts = Math.floor(Date.now() / 1000);
    signature = `webhook-id: ${id}\r\nwebhook-timestamp: ${ts}\r\nwebhook-signature: v1,${sign(vm.key, id, ts, body)}\r\n`;
  }
  const head = `POST /webhook HTTP/1.1\r\nHost: ${target.host}\r\nUser-Agent: webhook-status-callback/1\r\nContent-Type: application/json\r\n${signature}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  const started = performance.now();
  return new Promise((resolve) => {
    requestOnNewConnection(
      { hostname: target.hostname, port: Number(target.port) },
      vm.address,
      head + body,
      TIMEOUT_MS,
      (answer, failure) =>
        resolve({ status: statusOf(answer), ms: performance.now() - started, retryAfterS: retryAfterOf(answer), failure }),
    );
  });
}
