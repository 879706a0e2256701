/**
 * VMs for end-to-end tests: each runs in its own UTS and mount namespace, with its own hostname and
 * /etc/machine-id, so several VMs on one machine report as different hosts, as real ones would.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireTool } from '../tools.js';

/** Namespaces and bind mounts need root, as CI has; elsewhere the test cannot run. */
export function canRunVms(): boolean {
  const tools = ['ansible-pull', 'git', 'cloud-init', 'unshare', 'curl'].every((t) => requireTool(t));
  if (process.getuid?.() === 0) return tools;
  if (process.env.CI) throw new Error('the fleet end-to-end test needs root for its VM namespaces');
  return false;
}

export function gitRepo(dir: string): void {
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'site.yml'),
    '- name: Configure\n  hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n' +
      '    - name: Say hello\n      ansible.builtin.debug:\n        msg: hello\n',
  );
  const git = (...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' });
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('-c', 'user.name=test', '-c', 'user.email=test@example.com', 'commit', '-qm', 'playbook');
}

export interface Vm {
  name: string;
  vmid: number;
  root: string;
  machineIdFile: string;
}

export function vm(work: string, name: string, vmid: number): Vm {
  const root = join(work, name);
  mkdirSync(root, { recursive: true });
  const machineIdFile = join(work, `${name}.machine-id`);
  writeFileSync(machineIdFile, `${randomBytes(16).toString('hex')}\n`);
  return { name, vmid, root, machineIdFile };
}

/** Runs a command as the VM: its own hostname and machine-id, in namespaces of its own. */
export function asVm(
  work: string,
  v: Vm,
  command: string[],
  env: Record<string, string> = {},
): Promise<{ status: number | null; output: string }> {
  const proc = spawn(
    'unshare',
    [
      '--uts',
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      'hostname "$1" && mount --bind "$2" /etc/machine-id && shift 2 && exec "$@"',
      'sh',
      v.name,
      v.machineIdFile,
      ...command,
    ],
    {
      cwd: work,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: work,
        LC_ALL: 'C.UTF-8',
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_LOCALHOST_WARNING: 'false',
        ...env,
      },
    },
  );
  let output = '';
  proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => proc.once('close', (status) => resolve({ status, output })));
}
