/**
 * A stand-in for pveproxy: an HTTPS server on 127.0.0.1 whose certificate is signed by a CA made
 * with the openssl CLI, answering GET /api2/json/cluster/resources?type=vm in the documented shape.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface Pki {
  /** PEM of the CA that signed the server certificate. */
  ca: string;
  caFile: string;
  /** PEM of another CA, which did not. */
  otherCa: string;
  key: string;
  cert: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/** A CA, a server certificate for IP 127.0.0.1 signed by it (as pveproxy's is), and an unrelated CA. */
export function makePki(dir: string): Pki {
  makeCa(dir, 'test-pve-root-ca');
  makeCa(dir, 'other-ca');
  openssl(dir, [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  ]);
  writeFileSync(
    join(dir, 'server.ext'),
    'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  );
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'test-pve-root-ca.pem',
    '-CAkey',
    'test-pve-root-ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  ]);
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return {
    ca: read('test-pve-root-ca.pem'),
    caFile: join(dir, 'test-pve-root-ca.pem'),
    otherCa: read('other-ca.pem'),
    key: read('server.key'),
    cert: read('server.pem'),
  };
}

/** One guest as cluster/resources lists it (fields beyond these are ignored by the client). */
export interface Resource {
  vmid: number;
  name?: string;
  node: string;
  status: string;
  type: 'qemu' | 'lxc';
  template?: 0 | 1;
  tags?: string;
  id?: string;
  maxmem?: number;
}

export type FakeMode = 'ok' | 'refuse' | 'forbidden' | 'garbage' | 'hang';

export interface FakeProxmox {
  url: string;
  port: number;
  resources: Resource[];
  mode: FakeMode;
  /** Authorization headers and paths of every request, in order. */
  requests: { path: string; authorization: string | undefined }[];
  /** TCP connections open right now. */
  openConnections: number;
  /** Closes the listener and drops open connections: the API is now unreachable. */
  down(): Promise<void>;
  /** Listens again on the same port (no-op when listening). */
  up(): Promise<void>;
}

export async function startFakeProxmox(pki: Pki, resources: Resource[] = []): Promise<FakeProxmox> {
  let server: Server | undefined;
  const fake: FakeProxmox = {
    url: '',
    port: 0,
    resources,
    mode: 'ok',
    requests: [],
    openConnections: 0,
    down: () =>
      new Promise<void>((resolve) => {
        if (!server) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
        server = undefined;
      }),
    up: async () => {
      if (server) return;
      server = createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
        fake.requests.push({ path: req.url ?? '', authorization: req.headers.authorization });
        const json = (status: number, body: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8' });
          res.end(JSON.stringify(body));
        };
        if (fake.mode === 'hang') return; // never answers
        if (fake.mode === 'refuse') return json(401, { data: null });
        if (fake.mode === 'forbidden') return json(403, { data: null });
        if (fake.mode === 'garbage') {
          res.writeHead(200, { 'content-type': 'text/html' });
          return res.end('<html>not the API</html>');
        }
        if (req.url !== '/api2/json/cluster/resources?type=vm') return json(501, { data: null });
        json(200, { data: fake.resources.map((r) => ({ id: `${r.type}/${r.vmid}`, maxmem: 2147483648, ...r })) });
      });
      server.on('connection', (socket) => {
        fake.openConnections += 1;
        socket.on('close', () => (fake.openConnections -= 1));
      });
      await new Promise<void>((resolve, reject) => server!.once('error', reject).listen(fake.port, '127.0.0.1', resolve));
      fake.port = (server.address() as AddressInfo).port;
      fake.url = `https://127.0.0.1:${fake.port}`;
    },
  };
  await fake.up();
  return fake;
}
