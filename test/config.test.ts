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
    expect(() => loadConfig({ WEBHOOK_SECRETS_FILE: '/missing' }, () => { throw Object.assign(new Error('x'), { code: 'ENOENT' }); }))
      .toThrow(/WEBHOOK_SECRETS_FILE: cannot read \/missing \(ENOENT\)/);
  });

  it('parses trust-proxy forms', () => {
    expect(loadConfig({ WEBHOOK_TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ WEBHOOK_TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadConfig({ WEBHOOK_TRUST_PROXY: '10.0.0.1,10.0.0.0/8' }).trustProxy).toEqual(['10.0.0.1', '10.0.0.0/8']);
    expect(() => loadConfig({ WEBHOOK_TRUST_PROXY: 'everyone' })).toThrow(/WEBHOOK_TRUST_PROXY/);
  });
});
