import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxmoxError, readProxmoxVms, splitTags, type ClientConfig } from '../../src/fleet/proxmox-client.js';
import { tempDir } from '../helper.js';
import { requireTool } from '../tools.js';
import { makePki, startFakeProxmox, type FakeProxmox, type Pki } from './proxmox-fake.js';

const SECRET = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
const haveOpenssl = requireTool('openssl');

describe.runIf(haveOpenssl)('Proxmox API client', () => {
  let dir: string;
  let pki: Pki;
  let fake: FakeProxmox;
  let client: ClientConfig;

  beforeAll(async () => {
    dir = tempDir('webhook-proxmox-');
    pki = makePki(dir);
    fake = await startFakeProxmox(pki, [
      { vmid: 101, name: 'web-01', node: 'pve1', status: 'running', type: 'qemu', template: 0, tags: 'ansible-pull;web' },
      { vmid: 102, name: 'web-02', node: 'pve2', status: 'stopped', type: 'qemu', template: 0, tags: 'Ansible-Pull' },
      { vmid: 103, name: 'db-01', node: 'pve1', status: 'running', type: 'qemu', tags: 'db' },
      { vmid: 9000, name: 'debian-12-template', node: 'pve1', status: 'stopped', type: 'qemu', template: 1, tags: 'ansible-pull' },
      { vmid: 200, name: 'ct-dns', node: 'pve1', status: 'running', type: 'lxc', tags: 'ansible-pull' },
      { vmid: 104, node: 'pve1', status: 'running', type: 'qemu' },
    ]);
    client = { url: fake.url, tokenId: 'webhook@pve!discovery', tokenSecret: SECRET, ca: pki.ca, tag: undefined };
  });
  afterAll(async () => {
    await fake.down();
    rmSync(dir, { recursive: true, force: true });
  });

  const failure = async (p: Promise<unknown>): Promise<ProxmoxError> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProxmoxError);
    return err as ProxmoxError;
  };

  it('sends the token header exactly and asks for the VM resources', async () => {
    fake.requests.length = 0;
    await readProxmoxVms(client);
    expect(fake.requests).toEqual([
      { path: '/api2/json/cluster/resources?type=vm', authorization: `PVEAPIToken=webhook@pve!discovery=${SECRET}` },
    ]);
  });

  it('keeps QEMU VMs that are not templates, stopped ones as stopped, sorted by VMID', async () => {
    const { vms, total } = await readProxmoxVms(client);
    expect(total).toBe(6);
    expect(vms).toEqual([
      { vmid: 101, name: 'web-01', node: 'pve1', status: 'running', tags: ['ansible-pull', 'web'] },
      { vmid: 102, name: 'web-02', node: 'pve2', status: 'stopped', tags: ['Ansible-Pull'] },
      { vmid: 103, name: 'db-01', node: 'pve1', status: 'running', tags: ['db'] },
      // A VM without a name is named by its VMID, by which it is matched anyway.
      { vmid: 104, name: '104', node: 'pve1', status: 'running', tags: [] },
    ]);
  });

  it('filters by tag, case-insensitively as Proxmox compares tags; templates never', async () => {
    const { vms } = await readProxmoxVms({ ...client, tag: 'ansible-pull' });
    expect(vms.map((v) => v.vmid)).toEqual([101, 102]);
  });

  it('splits tags on ; and also , or spaces', () => {
    expect(splitTags('a;b')).toEqual(['a', 'b']);
    expect(splitTags(' a, b c;;d ')).toEqual(['a', 'b', 'c', 'd']);
    expect(splitTags(undefined)).toEqual([]);
  });

  it('fails TLS without the CA file, or with another CA, and calls that unreachable', async () => {
    for (const ca of [undefined, pki.otherCa]) {
      const err = await failure(readProxmoxVms({ ...client, ca }));
      expect(err.kind).toBe('unreachable');
      expect(err.message).toMatch(/TLS certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted .*check WEBHOOK_PROXMOX_CA_FILE/);
    }
  });

  it('classifies a refused token, a forbidden one and a wrong answer', async () => {
    try {
      fake.mode = 'refuse';
      const refused = await failure(readProxmoxVms(client));
      expect([refused.kind, refused.message]).toEqual([
        'refused',
        'the API refused token webhook@pve!discovery (HTTP 401): check that the token exists, has not expired, and that WEBHOOK_PROXMOX_TOKEN_FILE holds its secret',
      ]);
      fake.mode = 'forbidden';
      expect((await failure(readProxmoxVms(client))).kind).toBe('refused');
      fake.mode = 'garbage';
      const garbage = await failure(readProxmoxVms(client));
      expect([garbage.kind, garbage.message]).toEqual([
        'bad_answer',
        'the API answer is not JSON: check that WEBHOOK_PROXMOX_URL points at pveproxy (port 8006)',
      ]);
      fake.mode = 'ok';
      const wrongPath = await failure(readProxmoxVms({ ...client, url: `${fake.url}/elsewhere` }));
      expect([wrongPath.kind, wrongPath.message]).toEqual(['bad_answer', 'the API answered HTTP 501 instead of the VM list']);
    } finally {
      fake.mode = 'ok';
    }
  });

  it('refuses an answer that is not the documented shape, naming the field', async () => {
    const saved = fake.resources;
    try {
      fake.resources = [{ vmid: 'x' as unknown as number, node: 'pve1', status: 'running', type: 'qemu' }];
      const err = await failure(readProxmoxVms(client));
      expect(err.kind).toBe('bad_answer');
      expect(err.message).toMatch(/^the API answer is not a VM list \(data\.0\.vmid: /);
    } finally {
      fake.resources = saved;
    }
  });

  it('gives up after the timeout when the API does not answer', async () => {
    try {
      fake.mode = 'hang';
      const err = await failure(readProxmoxVms(client, { timeoutMs: 200 }));
      expect([err.kind, err.detail]).toEqual(['unreachable', 'timeout']);
      expect(err.message).toMatch(/^no answer from https:\/\/127\.0\.0\.1:\d+ within 0\.2 s/);
    } finally {
      fake.mode = 'ok';
    }
  });

  it('reports a closed port as unreachable', async () => {
    const port = fake.port;
    await fake.down();
    try {
      const err = await failure(readProxmoxVms(client));
      expect([err.kind, err.detail]).toEqual(['unreachable', 'ECONNREFUSED']);
      expect(err.message).toBe(
        `cannot reach https://127.0.0.1:${port} (ECONNREFUSED): check WEBHOOK_PROXMOX_URL and that pveproxy is running`,
      );
    } finally {
      await fake.up();
    }
  });
});
