/** Per-VM keys: the receiver derives what an OpenTofu template derives with its built-in functions. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cloudInitToken, createVmKeys, vmSecret } from '../../src/auth/vm-keys.js';
import { secretKey } from '../../src/ingest/signature.js';

const MASTER = 'master-secret-for-tests-0123456789abcdef';

describe('per-VM keys', () => {
  it('are base64sha256("<master>:<name>") and sha256("cloud-init:" + key), as the shell computes them', () => {
    // OpenTofu's base64sha256(s) is base64 of the raw SHA-256 of s; sha256(s) is its hex.
    const shellKey = execFileSync('sh', ['-c', 'printf %s "$1" | openssl dgst -sha256 -binary | base64', 'sh', `${MASTER}:web-01`], {
      encoding: 'utf8',
    }).trim();
    expect(vmSecret(MASTER, 'web-01')).toBe(`whsec_${shellKey}`);
    const shellToken = execFileSync('sh', ['-c', 'printf %s "$1" | sha256sum | cut -c1-64', 'sh', `cloud-init:whsec_${shellKey}`], {
      encoding: 'utf8',
    }).trim();
    expect(cloudInitToken(MASTER, 'web-01')).toBe(shellToken);
  });

  it('differ per name and per master; every listed master is accepted while rotating', () => {
    expect(vmSecret(MASTER, 'web-01')).not.toBe(vmSecret(MASTER, 'web-02'));
    const keys = createVmKeys(['new-master-0123456789abcdef0123456789', MASTER]);
    const old = secretKey(vmSecret(MASTER, 'web-01'));
    expect(keys.keysFor('web-01').some((k) => k.equals(old))).toBe(true);
    expect(keys.tokenMatches('web-01', cloudInitToken(MASTER, 'web-01'))).toBe(true);
    expect(keys.tokenMatches('web-02', cloudInitToken(MASTER, 'web-01'))).toBe(false);
    expect(keys.tokenMatches('web-01', createHash('sha256').update('guess').digest('hex'))).toBe(false);
  });
});
