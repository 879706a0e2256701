import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('configuration', () => {
  it('has documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      host: '0.0.0.0',
      port: 9191,
      dbPath: './data/webhook.db',
      logLevel: 'info',
      staleAfterMs: 1800_000,
      retentionDays: 90,
      retentionUnchangedDays: 7,
      trustProxy: false,
      durability: 'normal',
      secrets: [],
      readToken: undefined,
      rateLimitPerMinute: 600,
    });
  });

  it('lists every bad value at once', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({ WEBHOOK_PORT: '99999', WEBHOOK_LOG_LEVEL: 'loud', WEBHOOK_DURABILITY: 'maybe', WEBHOOK_SECRETS: 'hunter2' });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems.map((p) => p.split(':')[0])).toEqual(
      expect.arrayContaining(['WEBHOOK_PORT', 'WEBHOOK_LOG_LEVEL', 'WEBHOOK_DURABILITY', 'WEBHOOK_SECRETS.0']),
    );
    // A rejected secret is never echoed back.
    expect(error!.message).not.toContain('hunter2');
  });

  it('reads secrets and the read token from files, for rotation several secrets', () => {
    const files: Record<string, string> = {
      '/s': '# current\nwhsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\nwhsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n',
      '/t': 'a-long-enough-read-token\n',
    };
    const c = loadConfig(
      { WEBHOOK_SECRETS: 'whsec_BBBBBBBBBBBBBBBBBBBBBBBB', WEBHOOK_SECRETS_FILE: '/s', WEBHOOK_READ_TOKEN_FILE: '/t' },
      (p) => files[p]!,
    );
    expect(c.secrets).toHaveLength(3);
    expect(c.readToken).toBe('a-long-enough-read-token');
    expect(() =>
      loadConfig({ WEBHOOK_SECRETS_FILE: '/missing' }, () => {
        throw Object.assign(new Error('x'), { code: 'ENOENT' });
      }),
    ).toThrow(/WEBHOOK_SECRETS_FILE: cannot read \/missing \(ENOENT\)/);
  });

  it('parses trust-proxy forms', () => {
    expect(loadConfig({ WEBHOOK_TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ WEBHOOK_TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadConfig({ WEBHOOK_TRUST_PROXY: '10.0.0.1,10.0.0.0/8' }).trustProxy).toEqual(['10.0.0.1', '10.0.0.0/8']);
    expect(() => loadConfig({ WEBHOOK_TRUST_PROXY: 'everyone' })).toThrow(/WEBHOOK_TRUST_PROXY/);
  });
});

describe('Proxmox discovery configuration', () => {
  const secret = '5f0c2d1e-9a8b-4c3d-8e7f-6a5b4c3d2e1f';
  const files: Record<string, string> = {
    '/token': `webhook@pve!discovery=${secret}\n`,
    '/ca': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    '/two-lines': `webhook@pve!discovery=${secret}\nroot@pam!other=${secret}\n`,
    '/no-id': `${secret}\n`,
    '/not-pem': 'hello\n',
  };
  const read = (p: string) => {
    const text = files[p];
    if (text === undefined) throw Object.assign(new Error('x'), { code: 'ENOENT' });
    return text;
  };
  const problemsOf = (env: NodeJS.ProcessEnv): string[] => {
    try {
      loadConfig(env, read);
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    return [];
  };

  it('is off without a URL', () => {
    expect(loadConfig({}).proxmox).toBeUndefined();
  });

  it('reads the token, the CA and the tag, with a 60 s default interval', () => {
    const c = loadConfig(
      {
        WEBHOOK_PROXMOX_URL: 'https://127.0.0.1:8006',
        WEBHOOK_PROXMOX_TOKEN_FILE: '/token',
        WEBHOOK_PROXMOX_CA_FILE: '/ca',
        WEBHOOK_PROXMOX_TAG: 'ansible-pull',
      },
      read,
    );
    expect(c.proxmox).toEqual({
      url: 'https://127.0.0.1:8006',
      tokenId: 'webhook@pve!discovery',
      tokenSecret: secret,
      ca: files['/ca'],
      caFile: '/ca',
      tag: 'ansible-pull',
      intervalMs: 60_000,
    });
    expect(
      loadConfig(
        { WEBHOOK_PROXMOX_URL: 'https://pve.example:8006', WEBHOOK_PROXMOX_TOKEN_FILE: '/token', WEBHOOK_PROXMOX_INTERVAL_SECONDS: '15' },
        read,
      ).proxmox,
    ).toMatchObject({ ca: undefined, tag: undefined, intervalMs: 15_000 });
  });

  it('needs a token file when the URL is set', () => {
    expect(problemsOf({ WEBHOOK_PROXMOX_URL: 'https://127.0.0.1:8006' })).toMatchInlineSnapshot(`
      [
        "WEBHOOK_PROXMOX_TOKEN_FILE: required when WEBHOOK_PROXMOX_URL is set (a file holding USER@REALM!TOKENID=SECRET)",
      ]
    `);
  });

  it('refuses a token file in the wrong shape without printing its content', () => {
    const url = 'https://127.0.0.1:8006';
    const problems = [
      ...problemsOf({ WEBHOOK_PROXMOX_URL: url, WEBHOOK_PROXMOX_TOKEN_FILE: '/no-id' }),
      ...problemsOf({ WEBHOOK_PROXMOX_URL: url, WEBHOOK_PROXMOX_TOKEN_FILE: '/two-lines' }),
      ...problemsOf({ WEBHOOK_PROXMOX_URL: url, WEBHOOK_PROXMOX_TOKEN_FILE: '/missing' }),
    ];
    expect(problems).toMatchInlineSnapshot(`
      [
        "WEBHOOK_PROXMOX_TOKEN_FILE: /no-id must hold one line USER@REALM!TOKENID=SECRET; its line is not in that shape",
        "WEBHOOK_PROXMOX_TOKEN_FILE: /two-lines must hold one line USER@REALM!TOKENID=SECRET; it has 2 lines",
        "WEBHOOK_PROXMOX_TOKEN_FILE: cannot read /missing (ENOENT)",
      ]
    `);
    expect(problems.join('\n')).not.toContain(secret);
  });

  it('lists every Proxmox problem at once', () => {
    expect(
      problemsOf({ WEBHOOK_PROXMOX_URL: 'http://127.0.0.1:8006', WEBHOOK_PROXMOX_TAG: 'no spaces', WEBHOOK_PROXMOX_INTERVAL_SECONDS: '1' }),
    ).toMatchInlineSnapshot(`
        [
          "WEBHOOK_PROXMOX_URL: expected an https:// URL such as https://127.0.0.1:8006",
          "WEBHOOK_PROXMOX_TAG: expected a Proxmox tag (letters, digits, _ - + .)",
          "WEBHOOK_PROXMOX_INTERVAL_SECONDS: Too small: expected number to be >=5",
        ]
      `);
    expect(
      problemsOf({
        WEBHOOK_PROXMOX_URL: 'https://127.0.0.1:8006',
        WEBHOOK_PROXMOX_TOKEN_FILE: '/token',
        WEBHOOK_PROXMOX_CA_FILE: '/not-pem',
      }),
    ).toEqual(['WEBHOOK_PROXMOX_CA_FILE: /not-pem holds no PEM certificate (-----BEGIN CERTIFICATE-----)']);
    expect(problemsOf({ WEBHOOK_PROXMOX_TOKEN_FILE: '/token', WEBHOOK_PROXMOX_TAG: 'ansible' })).toEqual([
      'WEBHOOK_PROXMOX_TOKEN_FILE: set, but WEBHOOK_PROXMOX_URL is not (discovery needs the API URL)',
      'WEBHOOK_PROXMOX_TAG: set, but WEBHOOK_PROXMOX_URL is not (discovery needs the API URL)',
    ]);
  });
});
