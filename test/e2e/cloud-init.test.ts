/**
 * cloud-init/user-data.yaml.tftpl: rendered as OpenTofu's templatefile() would, checked by
 * Debian's cloud-init schema, and its parts run for real: cloud-init's own reporting handler and
 * phone_home module post to a running receiver, then the ansible-pull wrapper it writes runs the
 * callback plugin it carries, and everything lands on one host.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostDetailSchema, runDetailSchema } from '../../src/protocol/api.js';
import { tempDir } from '../helper.js';
import { hasTool, requireTool } from '../tools.js';
import { debug, play, playbookRepo, startServer, type ServerProcess } from './server-process.js';
import {
  envFile,
  FAILING_FINAL_STAGE_PY,
  fileContent,
  installUnder,
  PLUGIN,
  renderTemplate,
  renderTo as renderVars,
  SYSTEM_PYTHON,
  TEMPLATE,
  templateVars,
  WRAPPER_PATH,
  writtenFile,
  type TemplateVars,
  type WriteFile,
} from './user-data.js';

const SECRET = `whsec_${Buffer.from('cloud-init test signing key, 32b').toString('base64')}`;
const VMID = 4242;

/** The same through a real `tofu console` (or `terraform console`), when one is installed. */
function renderWithTofu(tool: string, templatePath: string, vars: TemplateVars, pluginPath: string): string {
  const map = Object.entries(vars)
    .map(([k, v]) => (k === 'callback_plugin_b64' ? `${k} = filebase64(${JSON.stringify(pluginPath)})` : `${k} = ${JSON.stringify(v)}`))
    .join(', ');
  const expr = `base64encode(templatefile(${JSON.stringify(templatePath)}, { ${map} }))\n`;
  const out = execFileSync(tool, ['console'], { input: expr, cwd: tempDir(), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TF_IN_AUTOMATION: '1' } });
  return Buffer.from(JSON.parse(out.trim()) as string, 'base64').toString('utf8');
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

function vars(overrides: TemplateVars = {}): TemplateVars {
  return templateVars({ hostname, vmid: VMID, webhook_url: server.url, webhook_secret: SECRET, ...overrides });
}

const renderTo = (path: string, overrides: TemplateVars = {}) => renderVars(path, vars(overrides));

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
      PULL_INTERVAL: '30min',
      PULL_ONLY_IF_CHANGED: 'false',
    });
    // The timer is enabled before the first pull, so that the pull's exit code is the script's.
    expect(config.runcmd).toEqual([
      ['sh', '-c', expect.stringContaining('systemctl enable --now ansible-pull-webhook.timer'), 'enable-timer', '30min'],
      [WRAPPER_PATH],
    ]);
    expect(files.get('/usr/local/sbin/ansible-pull-webhook')!.permissions).toBe('0755');

    expect(config.reporting).toEqual({
      webhook_status: { type: 'webhook', endpoint: `${server.url}/cloud-init/${hostname}/events?token=`, timeout: 5, retries: 2 },
    });
    expect(config.phone_home).toEqual({ url: `${server.url}/cloud-init/${hostname}/phone-home?token=`, post: ['instance_id', 'hostname', 'fqdn'], tries: 10 });
  });

  it('enables the timer only when pull_interval is set', () => {
    const enable = (interval: string) => {
      const { config } = renderTo(join(work, 'timer-switch.yaml'), { pull_interval: interval });
      const [shell, flag, script, name, arg] = (config.runcmd as string[][])[0]!;
      // The runcmd line itself, with systemctl replaced by echo.
      const r = spawnSync(shell!, [flag!, script!.replaceAll('systemctl', 'echo systemctl'), name!, arg!], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    expect(enable('30min')).toBe('systemctl daemon-reload\nsystemctl enable --now ansible-pull-webhook.timer\n');
    expect(enable('1h 30min')).toContain('enable --now');
    expect(enable('')).toBe('');
    expect(enable('0')).toBe('');
  });

  it("runcmd as cloud-init runs it: the timer is enabled first and the script's exit code is the first pull's", (ctx) => {
    if (!requireTool('cloud-init')) return ctx.skip();
    const { config } = renderTo(join(work, 'runcmd.yaml'));
    const dir = tempDir('webhook-runcmd-');
    // cloud-init's own shellify() turns runcmd into the script config-scripts-user runs.
    const script = execFileSync(SYSTEM_PYTHON, ['-c', 'import json, sys; from cloudinit import util; print(util.shellify(json.loads(sys.argv[1])), end="")', JSON.stringify(config.runcmd)], { encoding: 'utf8' });
    const stub = (name: string, body: string) => {
      writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(dir, name), 0o755);
    };
    stub('systemctl', `echo "systemctl $*" >> ${dir}/calls`);
    stub('ansible-pull-webhook', `echo "ansible-pull-webhook" >> ${dir}/calls; exit 3`);
    writeFileSync(join(dir, 'runcmd'), script.replaceAll(WRAPPER_PATH, join(dir, 'ansible-pull-webhook')));
    const r = spawnSync('sh', [join(dir, 'runcmd')], { encoding: 'utf8', env: { PATH: `${dir}:${process.env.PATH ?? ''}` } });
    expect(r.status, r.stderr).toBe(3);
    expect(readFileSync(join(dir, 'calls'), 'utf8')).toBe('systemctl daemon-reload\nsystemctl enable --now ansible-pull-webhook.timer\nansible-pull-webhook\n');
  });

  it('writes an ansible-pull wrapper that is shellcheck clean', (ctx) => {
    if (!requireTool('shellcheck') || !requireTool('cloud-init')) return ctx.skip();
    const { config } = renderTo(join(work, 'wrapper.yaml'));
    const wrapper = writtenFile(config, WRAPPER_PATH);
    expect(wrapper.content.startsWith('#!/bin/bash\n')).toBe(true);
    const path = join(work, 'ansible-pull-webhook');
    writeFileSync(path, wrapper.content);
    // SC1091: the env file it sources exists only on the VM.
    const r = spawnSync('shellcheck', ['-e', 'SC1091', path], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('cloud-init reporting and phone_home, then the first ansible-pull run, all land on one host', async (ctx) => {
    if (!requireTool('cloud-init') || !requireTool('ansible-pull')) return ctx.skip();

    // A repository for ansible-pull to clone, standing in for ansible_repo_url.
    const repo = join(work, 'repo');
    const site = play('First boot', `${debug('Say hello', 'hello from first boot')}    - name: Touch a file\n      ansible.builtin.command: "true"\n`);
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
${FAILING_FINAL_STAGE_PY}
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
    expect(before.status).toBe('boot-failed');
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
    installUnder(root, config);
    expect(readFileSync(join(root, 'etc/webhook-status/ansible-pull.env'), 'utf8')).not.toMatch(/'\/(etc|usr|var)\//);
    const runcmd = (config.runcmd as string[][]).at(-1)!;
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

describe('ansible-pull-webhook.service and ansible-pull-webhook.timer', () => {
  const SERVICE = '/etc/systemd/system/ansible-pull-webhook.service';
  const TIMER = '/etc/systemd/system/ansible-pull-webhook.timer';

  /** The units as the VM has them, under a scratch root (verify wants ExecStart= to be executable). */
  function units(overrides: TemplateVars = {}) {
    const { config } = renderTo(join(work, 'units.yaml'), overrides);
    const root = tempDir('webhook-units-');
    installUnder(root, config);
    return { root, service: root + SERVICE, timer: root + TIMER, serviceText: writtenFile(config, SERVICE).content, timerText: writtenFile(config, TIMER).content };
  }

  function verify(...paths: string[]) {
    const r = spawnSync('systemd-analyze', ['verify', ...paths], { encoding: 'utf8' });
    return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
  }

  /** Key=value lines, comments and section headers dropped. */
  const directives = (text: string) =>
    text
      .split('\n')
      .filter((l) => /^[A-Za-z]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);

  it('systemd-analyze verify finds nothing to complain about', (ctx) => {
    if (!requireTool('systemd-analyze') || !requireTool('cloud-init')) return ctx.skip();
    const { service, timer } = units();
    // verify prints unknown keys and bad values as warnings but still exits 0: demand silence.
    expect(verify(service, timer)).toEqual({ status: 0, output: '' });
    const odd = units({ pull_interval: '1h 30min', pull_random_delay: '0' });
    expect(verify(odd.service, odd.timer)).toEqual({ status: 0, output: '' });
  });

  it('verify does check them: a bad span is reported, and an empty interval is why runcmd leaves the timer off', (ctx) => {
    if (!requireTool('systemd-analyze') || !requireTool('cloud-init')) return ctx.skip();
    const bad = units({ pull_interval: 'soon' });
    expect(verify(bad.service, bad.timer).output).toContain('Failed to parse timer value, ignoring: soon');
    const off = units({ pull_interval: '' });
    const r = verify(off.service, off.timer);
    expect(r.status).not.toBe(0);
    expect(r.output).toContain('Timer unit lacks value setting');
  });

  it('runs the wrapper once per start, keeps the detached sender alive, pulls every pull_interval', (ctx) => {
    if (!requireTool('cloud-init')) return ctx.skip();
    const { serviceText, timerText } = units({ pull_interval: '45min', pull_random_delay: '3min' });
    expect(directives(serviceText)).toEqual([
      ['Description', 'ansible-pull with webhook status reports'],
      ['Wants', 'network-online.target'],
      ['After', 'network-online.target'],
      ['Type', 'oneshot'],
      ['ExecStart', WRAPPER_PATH],
      ['KillMode', 'process'],
    ]);
    expect(directives(timerText)).toEqual([
      ['Description', 'Periodic ansible-pull with webhook status reports'],
      ['OnBootSec', '45min'],
      ['OnUnitActiveSec', '45min'],
      ['RandomizedDelaySec', '3min'],
      ['AccuracySec', '1s'],
      ['Persistent', 'true'],
      ['WantedBy', 'timers.target'],
    ]);
  });
});
