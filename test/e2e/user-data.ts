/**
 * cloud-init/user-data.yaml.tftpl for tests: rendered as OpenTofu's templatefile() would, read with
 * cloud-init's PyYAML, and its files installed under a scratch root, as a VM would have them.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT } from './server-process.js';

export const TEMPLATE = join(ROOT, 'cloud-init', 'user-data.yaml.tftpl');
export const PLUGIN = join(ROOT, 'ansible', 'callback_plugins', 'webhook_status.py');
export const SYSTEM_PYTHON = '/usr/bin/python3'; // the one with Debian's cloudinit package
export const WRAPPER_PATH = '/usr/local/sbin/ansible-pull-webhook';

export type TemplateVars = Record<string, string | number | boolean>;

/**
 * Every variable the template needs (templatefile() refuses a missing one), with the values the
 * README suggests; tests override what they care about.
 */
export function templateVars(overrides: TemplateVars = {}): TemplateVars {
  return {
    hostname: 'web-01',
    vmid: 101,
    webhook_url: 'http://127.0.0.1:9191',
    webhook_secret: '',
    cloud_init_token: '',
    ansible_repo_url: 'https://git.example.com/infra/vm-config.git',
    ansible_repo_branch: 'main',
    ansible_playbook: 'site.yml',
    callback_plugin_b64: readFileSync(PLUGIN).toString('base64'),
    pull_interval: '30min',
    pull_random_delay: '5min',
    pull_only_if_changed: false,
    ...overrides,
  };
}

/**
 * OpenTofu's templatefile() for the features the template may use: `${name}` from vars, and the
 * escapes `$${` and `%%{`. Anything else (expressions, `%{` directives) is refused, so the
 * template cannot grow a feature this renderer would get wrong. A lone `$` or `$$` is literal, as in HCL.
 */
export function renderTemplate(text: string, vars: TemplateVars): string {
  return text.replace(/\$\$\{|%%\{|\$\{([^}]*)\}|%\{/g, (match, inner: string | undefined) => {
    if (match === '$${') return '${';
    if (match === '%%{') return '%{';
    if (match === '%{') throw new Error('template directives (%{ ... }) are not supported by this renderer');
    const name = inner!.trim();
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) throw new Error(`unsupported template expression \${${inner}}`);
    if (!(name in vars)) throw new Error(`vars map does not contain key "${name}"`);
    return String(vars[name]);
  });
}

export function yamlToJson(path: string): Record<string, unknown> {
  const out = execFileSync(SYSTEM_PYTHON, ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', path], { encoding: 'utf8' });
  return JSON.parse(out) as Record<string, unknown>;
}

export interface WriteFile {
  path: string;
  content: string;
  encoding?: string;
  permissions?: string;
}

export const fileContent = (f: WriteFile) => (f.encoding === 'b64' ? Buffer.from(f.content, 'base64') : Buffer.from(f.content, 'utf8'));

/** Renders the template to path and parses it. */
export function renderTo(path: string, vars: TemplateVars) {
  const text = renderTemplate(readFileSync(TEMPLATE, 'utf8'), vars);
  writeFileSync(path, text);
  return { text, config: yamlToJson(path) };
}

/** The rendered write_files entry for path. */
export function writtenFile(config: Record<string, unknown>, path: string): WriteFile {
  const file = (config.write_files as WriteFile[]).find((f) => f.path === path);
  if (!file) throw new Error(`the template writes no ${path}`);
  return file;
}

/** Directories of the VM that the installed files name, moved under a scratch root. */
const VM_PATHS = ['/etc/webhook-status', '/etc/systemd/system', '/usr/local/lib/webhook-status', '/var/spool/webhook-status', '/var/lib/ansible-pull', '/usr/local/sbin', '/run/lock'];

export const reroot = (root: string, text: string) => VM_PATHS.reduce((t, prefix) => t.replaceAll(prefix, root + prefix), text);

/** Writes every write_files entry under root, with the paths inside text files moved there too. */
export function installUnder(root: string, config: Record<string, unknown>): void {
  for (const f of config.write_files as WriteFile[]) {
    const target = root + f.path;
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, f.encoding === 'b64' ? fileContent(f) : reroot(root, f.content));
    chmodSync(target, parseInt(f.permissions ?? '0644', 8));
  }
}

/** KEY='value' lines of the env file, as `sh` reads them with set -a. */
export function envFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n').filter(Boolean)) {
    const m = /^([A-Z_][A-Z0-9_]*)='([^']*)'$/.exec(line);
    if (!m) throw new Error(`not a KEY='value' line: ${line}`);
    env[m[1]!] = m[2]!;
  }
  return env;
}

/**
 * Python, for cloud-init's own reporting module once configured: the final stage fails in its
 * scripts-user step, as a failing runcmd makes it, and the events are flushed to the handler.
 */
export const FAILING_FINAL_STAGE_PY = `final = events.ReportEventStack('modules-final', 'running modules for final')
with final:
    try:
        with events.ReportEventStack('config-scripts-user', 'running config-scripts-user', parent=final):
            raise RuntimeError('runcmd failed')
    except RuntimeError:
        pass
reporting.flush_events()
`;
