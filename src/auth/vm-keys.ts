/**
 * Per-VM keys, derived on the receiver from a master secret and the VM's name, so a VM holding its
 * own key can sign only as itself. The derivation uses nothing an OpenTofu template lacks:
 *
 *   key   = "whsec_" + base64sha256("<master>:<name>")          (the plugin's WEBHOOK_SECRET)
 *   token = sha256("cloud-init:" + key)                         (hex; cloud-init's capability URL)
 *
 * Secret-prefix SHA-256 is open to length extension, which could only yield a key for a name that
 * ends in SHA-256 padding bytes; such a name is no hostname, and the protocol refuses it. See
 * docs/security.md for the threat model.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** The VM's signing secret, in the Standard Webhooks form the plugin takes. */
export function vmSecret(master: string, name: string): string {
  return `whsec_${createHash('sha256').update(`${master}:${name}`).digest('base64')}`;
}

/** The VM's cloud-init capability token, for URLs cloud-init's handlers cannot sign. */
export function cloudInitToken(master: string, name: string): string {
  return createHash('sha256')
    .update(`cloud-init:${vmSecret(master, name)}`)
    .digest('hex');
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Keys of every configured master (the first is current; the others are accepted while rotating). */
export function createVmKeys(masters: readonly string[]) {
  const keyCache = new Map<string, Buffer[]>();
  return {
    enabled: masters.length > 0,
    /** HMAC keys a delivery claiming `name` may be signed with. */
    keysFor(name: string): Buffer[] {
      let keys = keyCache.get(name);
      if (keys === undefined) {
        keys = masters.map((m) => Buffer.from(vmSecret(m, name).slice('whsec_'.length), 'base64'));
        // Bounded: names come from authenticated and unauthenticated requests alike.
        if (keyCache.size > 50_000) keyCache.clear();
        keyCache.set(name, keys);
      }
      return keys;
    },
    /** True when `token` is the cloud-init token of `name` under any master. */
    tokenMatches(name: string, token: string): boolean {
      const given = digest(token);
      return masters.some((m) => timingSafeEqual(given, digest(cloudInitToken(m, name))));
    },
  };
}

export type VmKeys = ReturnType<typeof createVmKeys>;
