/**
 * cloud-init/user-data.yaml.tftpl: rendered as OpenTofu's templatefile() would, checked by
 * Debian's cloud-init schema, and its parts run for real: cloud-init's own reporting handler and
 * phone_home module post to a running receiver, then the ansible-pull wrapper it writes runs the
 * callback plugin it carries, and everything lands on one host.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostDetailSchema, runDetailSchema } from '../../src/protocol/api.js';
import { tempDir } from '../helper.js';
import { hasTool, requireTool } from '../tools.js';
import { debug, play, playbookRepo, ROOT, startServer, type ServerProcess } from './server-process.js';

const TEMPLATE = join(ROOT, 'cloud-init', 'user-data.yaml.tftpl');
const PLUGIN = join(ROOT, 'ansible', 'callback_plugins', 'webhook_status.py');
const SYSTEM_PYTHON = '/usr/bin/python3'; // the one with Debian's cloudinit package
const SECRET = `whsec_${Buffer.from('cloud-init test signing key, 32b').toString('base64')}`;
const VMID = 4242;

/**
 * OpenTofu's templatefile() for the features the template may use: `${name}` from vars, and the
 * escapes `$${` and `%%{`. Anything else (expressions, `%{` directives) is refused, so the
 * template cannot grow a feature this renderer would get wrong. A lone `$` or `$$` is literal, as in HCL.
 */
function renderTemplate(text: string, vars: Record<string, string | number>): string {
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

/** The same through a real `tofu console` (or `terraform console`), when one is installed. */
function renderWithTofu(tool: string, templatePath: string, vars: Record<string, string | number>, pluginPath: string): string {
  const map = Object.entries(vars)
    .map(([k, v]) => (k === 'callback_plugin_b64' ? `${k} = filebase64(${JSON.stringify(pluginPath)})` : `${k} = ${JSON.stringify(v)}`))
    .join(', ');
  const expr = `base64encode(templatefile(${JSON.stringify(templatePath)}, { ${map} }))\n`;
  const out = execFileSync(tool, ['console'], { input: expr, cwd: tempDir(), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TF_IN_AUTOMATION: '1' } });
  return Buffer.from(JSON.parse(out.trim()) as string, 'base64').toString('utf8');
}

function yamlToJson(path: string): Record<string, unknown> {
  const out = execFileSync(SYSTEM_PYTHON, ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', path], { encoding: 'utf8' });
  return JSON.parse(out) as Record<string, unknown>;
}

interface WriteFile {
  path: string;
  content: string;
  encoding?: string;
  permissions?: string;
}

const fileContent = (f: WriteFile) => (f.encoding === 'b64' ? Buffer.from(f.content, 'base64') : Buffer.from(f.content, 'utf8'));

/** KEY='value' lines of the env file, as `sh` reads them with set -a. */
function envFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n').filter(Boolean)) {
    const m = /^([A-Z_][A-Z0-9_]*)='([^']*)'$/.exec(line);
    if (!m) throw new Error(`not a KEY='value' line: ${line}`);
    env[m[1]!] = m[2]!;
  }
  return env;
}

const work = tempDir('webhook-cloud-init-');
let server: ServerProcess;
const hostname = osHostname(); // the plugin reports the machine's real hostname: the VM is this machine

beforeAll(async () => {
  server = await startServer({ WEBHOOK_DB: join(work, 'webhook.db'), WEBHOOK_SECRETS: SECRET });
});
afterAll(async () => {
  await server?.stop();
});

function vars(overrides: Record<string, string | number> = {}): Record<string, string | number> {
  return {
    hostname,
    vmid: VMID,
    webhook_url: server.url,
    webhook_secret: SECRET,
    ansible_repo_url: 'https://git.example.com/infra/vm-config.git',
    ansible_repo_branch: 'main',
    ansible_playbook: 'site.yml',
    callback_plugin_b64: readFileSync(PLUGIN).toString('base64'),
    ...overrides,
  };
}

function renderTo(path: string, overrides: Record<string, string | number> = {}) {
  const text = renderTemplate(readFileSync(TEMPLATE, 'utf8'), vars(overrides));
  writeFileSync(path, text);
  return { text, config: yamlToJson(path) };
}

describe('the template renderer', () => {
  it('follows HCL: ${name} substituted, $${ and %%{ unescaped, a lone $ kept, unknown names refused', () => {
    expect(renderTemplate('a ${x} $${y} %%{ z } $HOME $$ ${ x }', { x: 1 })).toBe('a 1 ${y} %{ z } $HOME $$ 1');
    expect(() => renderTemplate('${nope}', {})).toThrow(/does not contain key "nope"/);
    expect(() => renderTemplate('%{ if true }x%{ endif }', {})).toThrow(/directives/);
    expect(() => renderTemplate('${upper(x)}', { x: 'a' })).toThrow(/unsupported/);
  });

  const tofu = ['tofu', 'terraform'].find(hasTool);
  it.skipIf(!tofu)('renders the template exactly as a real tofu/terraform templatefile() does', () => {
    const expected = renderWithTofu(tofu!, TEMPLATE, vars(), PLUGIN);
    expect(renderTemplate(readFileSync(TEMPLATE, 'utf8'), vars())).toBe(expected);
  });
});

describe('cloud-init/user-data.yaml.tftpl', () => {
  it('passes cloud-init schema, which does catch a broken file', (ctx) => {
    if (!requireTool('cloud-init')) return ctx.skip();
    const good = join(work, 'user-data.yaml');
    renderTo(good);
    const ok = spawnSync('cloud-init', ['schema', '--config-file', good], { encoding: 'utf8' });
    expect(ok.stdout + ok.stderr).toContain('Valid cloud-config');
    expect(ok.status).toBe(0);

    const bad = join(work, 'broken.yaml');
    writeFileSync(bad, readFileSync(good, 'utf8').replace('post: [instance_id, hostname, fqdn]', 'post: [instance_id, hostnme]'));
    const refused = spawnSync('cloud-init', ['schema', '--config-file', bad], { encoding: 'utf8' });
    expect(refused.status).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain('phone_home.post');
  });

  it('uses only top-level keys cloud-init knows (22.4 does not flag unknown ones itself)', (ctx) => {
    if (!requireTool('cloud-init')) return ctx.skip();
    const { config } = renderTo(join(work, 'keys.yaml'));
    const out = execFileSync(SYSTEM_PYTHON, ['-c', `
import json, os, cloudinit.config.schemas as s
schema = json.load(open(os.path.join(os.path.dirname(s.__file__), 'schema-cloud-config-v1.json')))
keys = set()
for ref in schema['allOf']:
    keys.update(schema['$defs'][ref['$ref'].split('/')[-1]].get('properties', {}))
print(json.dumps(sorted(keys)))`], { encoding: 'utf8' });
    const known = new Set(JSON.parse(out) as string[]);
    expect(known.has('reporting')).toBe(true);
    expect(Object.keys(config).filter((k) => !known.has(k))).toEqual([]);
  });

  it('installs ansible, writes the plugin, its settings and the secret, runs ansible-pull and reports', (ctx) => {
    // The rendered YAML is read with the PyYAML that comes with cloud-init.
    if (!requireTool('cloud-init')) return ctx.skip();
    const { text, config } = renderTo(join(work, 'structure.yaml'));
    expect(text.startsWith('#cloud-config\n')).toBe(true);
    expect(config.hostname).toBe(hostname);
    expect(config.packages).toEqual(expect.arrayContaining(['ansible-core', 'git']));

    const files = new Map((config.write_files as WriteFile[]).map((f) => [f.path, f]));
    const plugin = files.get('/usr/local/lib/webhook-status/callback_plugins/webhook_status.py')!;
    expect(fileContent(plugin).equals(readFileSync(PLUGIN))).toBe(true);
    const secret = files.get('/etc/webhook-status/secret')!;
    expect(secret.permissions).toBe('0600');
    expect(secret.content).toBe(SECRET);

    const env = envFile(files.get('/etc/webhook-status/ansible-pull.env')!.content);
    expect(env).toEqual({
      ANSIBLE_CALLBACK_PLUGINS: dirname(plugin.path),
      ANSIBLE_CALLBACKS_ENABLED: 'webhook_status',
      WEBHOOK_URL: server.url,
      WEBHOOK_SECRET_FILE: secret.path,
      WEBHOOK_VMID: String(VMID),
      WEBHOOK_SPOOL_DIR: '/var/spool/webhook-status',
      ANSIBLE_REPO_URL: 'https://git.example.com/infra/vm-config.git',
      ANSIBLE_REPO_BRANCH: 'main',
      ANSIBLE_PLAYBOOK: 'site.yml',
    });
    expect(config.runcmd).toEqual([['/usr/local/sbin/ansible-pull-webhook']]);
    expect(files.get('/usr/local/sbin/ansible-pull-webhook')!.permissions).toBe('0755');

    expect(config.reporting).toEqual({
      webhook_status: { type: 'webhook', endpoint: `${server.url}/cloud-init/${hostname}/events`, timeout: 5, retries: 2 },
    });
    expect(config.phone_home).toEqual({ url: `${server.url}/cloud-init/${hostname}/phone-home`, post: ['instance_id', 'hostname', 'fqdn'], tries: 10 });
  });

  it('writes an ansible-pull wrapper that is shellcheck clean as sh', (ctx) => {
    if (!requireTool('shellcheck') || !requireTool('cloud-init')) return ctx.skip();
    const { config } = renderTo(join(work, 'wrapper.yaml'));
    const wrapper = (config.write_files as WriteFile[]).find((f) => f.path === '/usr/local/sbin/ansible-pull-webhook')!;
    const path = join(work, 'ansible-pull-webhook');
    writeFileSync(path, wrapper.content);
    // SC1091: the env file it sources exists only on the VM.
    const r = spawnSync('shellcheck', ['-s', 'sh', '-e', 'SC1091', path], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('cloud-init reporting and phone_home, then the first ansible-pull run, all land on one host', async (ctx) => {
    if (!requireTool('cloud-init') || !requireTool('ansible-pull')) return ctx.skip();

    // A repository for ansible-pull to clone, standing in for ansible_repo_url.
    const repo = join(work, 'repo');
    const site = play('First boot', debug('Say hello', 'hello from first boot') + '    - name: Touch a file\n      ansible.builtin.command: "true"\n');
    const commit = playbookRepo(repo, { 'site.yml': site }, 'first boot playbook');

    const { config } = renderTo(join(work, 'run.yaml'), { ansible_repo_url: `file://${repo}` });

    // 1. cloud-init's own Python: its webhook reporting handler, configured by the rendered
    //    `reporting` section, and the phone_home module's handle() with the rendered settings.
    const py = spawnSync(SYSTEM_PYTHON, ['-c', `
import collections, json, logging, sys
from cloudinit import reporting
from cloudinit.reporting import events
from cloudinit.config import cc_phone_home
config = json.loads(sys.argv[1])
reporting.update_configuration(config['reporting'])
final = events.ReportEventStack('modules-final', 'running modules for final')
with final:
    try:
        with events.ReportEventStack('config-scripts-user', 'running config-scripts-user', parent=final):
            raise RuntimeError('runcmd failed')
    except RuntimeError:
        pass
reporting.flush_events()

Hostname = collections.namedtuple('Hostname', 'hostname is_default')
class Cloud:
    paths = None
    def get_instance_id(self):
        return 'iid-cloud-init-test'
    def get_hostname(self, fqdn=False, **kwargs):
        return Hostname(sys.argv[2] + ('.lab.example' if fqdn else ''), False)
cc_phone_home.handle('phone_home', {'phone_home': config['phone_home']}, Cloud(), logging.getLogger('test'), [])
`, JSON.stringify(config), hostname], { encoding: 'utf8', timeout: 60_000 });
    expect(py.status, py.stderr).toBe(0);
    expect(py.stderr).not.toMatch(/Failed posting event|Failed to post phone home/);

    const res = await fetch(`${server.url}/hosts/${hostname}`);
    expect(res.status).toBe(200);
    const before = hostDetailSchema.parse(await res.json());
    expect(before.status).toBe('never-reported');
    expect(before.registered_at).not.toBeNull();
    expect(before.instance_id).toBe('iid-cloud-init-test');
    expect(before.cloud_init.map((e) => [e.source, e.name, e.event_type, e.result])).toEqual([
      ['phone_home', 'phone_home', null, null],
      ['reporting', 'modules-final', 'finish', 'FAIL'],
      ['reporting', 'modules-final/config-scripts-user', 'finish', 'FAIL'],
      ['reporting', 'modules-final/config-scripts-user', 'start', null],
      ['reporting', 'modules-final', 'start', null],
    ]);
    expect(before.cloud_init[0]!.description).toBe(`${hostname}.lab.example`);

    // 2. The files it writes, under a scratch root, and the command runcmd runs: ansible-pull with
    //    the plugin from the user data, signing with the secret file, as the VM would at first boot.
    const root = join(work, 'vm-root');
    const reroot = (text: string) =>
      ['/etc/webhook-status', '/usr/local/lib/webhook-status', '/var/spool/webhook-status', '/var/lib/ansible-pull', '/usr/local/sbin']
        .reduce((t, prefix) => t.replaceAll(prefix, root + prefix), text);
    for (const f of config.write_files as WriteFile[]) {
      const target = root + f.path;
      mkdirSync(dirname(target), { recursive: true });
      const text = f.encoding === 'b64' ? null : reroot(f.content);
      writeFileSync(target, text ?? fileContent(f));
      chmodSync(target, parseInt(f.permissions ?? '0644', 8));
    }
    expect(readFileSync(join(root, 'etc/webhook-status/ansible-pull.env'), 'utf8')).not.toMatch(/'\/(etc|usr|var)\//);
    const runcmd = (config.runcmd as string[][])[0]!;
    const pull = spawnSync(root + runcmd[0]!, runcmd.slice(1), {
      encoding: 'utf8',
      timeout: 60_000,
      // WEBHOOK_RETRY_FOR=0: should anything be spooled, no detached sender outlives the test.
      env: { PATH: process.env.PATH ?? '', HOME: work, WEBHOOK_RETRY_FOR: '0' },
    });
    expect(pull.status, pull.stdout + pull.stderr).toBe(0);
    expect(pull.stdout + pull.stderr).not.toContain('webhook_status');

    const after = hostDetailSchema.parse(await (await fetch(`${server.url}/hosts/${VMID}`)).json());
    expect(after.id).toBe(before.id);
    expect(after.status).toBe('succeeded');
    expect(after.instance_id).toBe('iid-cloud-init-test');
    expect(after.vmid).toBe(VMID);
    expect(after.latest_run?.commit).toBe(commit);
    expect(after.cloud_init).toHaveLength(5);
    const run = runDetailSchema.parse(await (await fetch(`${server.url}/runs/${after.latest_run!.run_id}`)).json());
    expect(run.task_results.map((t) => [t.task, t.status])).toEqual([
      ['Say hello', 'ok'],
      ['Touch a file', 'changed'],
    ]);
    // Signed with the secret from the user data: the receiver refuses unsigned deliveries.
    expect(server.logs.filter((l) => l.statusCode === 401)).toEqual([]);
  });
});
