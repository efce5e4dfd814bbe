import { readFileSync, statSync } from 'node:fs';
import type { KubeConfig, User } from '@kubernetes/client-node';

/** The auth-provider name under which kube-config.ts hands `tokenFile` users to this authenticator. */
export const tokenFileProvider = 'codevector-token-file';

type Authenticator = Parameters<KubeConfig['addAuthenticator']>[0];
type Entry = { token: string; stamp: string; checkedAt: number; readAt: number };

export type TokenFileAuthOptions = {
  /** How often the file is stat()ed for a change (a rotation is picked up within this). */
  checkEveryMs?: number;
  /** Re-read even when the file looks unchanged (a clock-skewed or coarse mtime must not pin a token). */
  maxAgeMs?: number;
  now?: () => number;
};

/**
 * A client-node authenticator for bearer tokens kept in a file: the kubelet's projected service
 * account token, or a kubeconfig user's `tokenFile` (ADR 0101). client-node 2.0.1 ignores
 * `tokenFile` in a kubeconfig, and its in-cluster FileAuth keeps serving a token for up to 60 s
 * after the file changed; this one notices the change (inode, mtime, size: the kubelet swaps a
 * symlink) within `checkEveryMs`, so a rotated-then-revoked token stops being sent at once.
 */
export function createTokenFileAuthenticator(options: TokenFileAuthOptions = {}): Authenticator {
  const checkEveryMs = options.checkEveryMs ?? 1_000;
  const maxAgeMs = options.maxAgeMs ?? 60_000;
  const now = options.now ?? Date.now;
  const files = new Map<string, Entry>();

  function tokenIn(file: string): string {
    const t = now();
    const entry = files.get(file);
    if (entry && t - entry.checkedAt < checkEveryMs) return entry.token;
    try {
      const stat = statSync(file);
      const stamp = `${stat.ino}:${stat.mtimeMs}:${stat.size}`;
      if (entry && entry.stamp === stamp && t - entry.readAt < maxAgeMs) {
        entry.checkedAt = t;
        return entry.token;
      }
      const token = readFileSync(file, 'utf8').trim();
      files.set(file, { token, stamp, checkedAt: t, readAt: t });
      return token;
    } catch (error) {
      // Mid-rotation the file can be briefly missing: keep the last token (the apiserver says 401 if it is really gone).
      if (entry) return entry.token;
      throw error;
    }
  }

  return {
    isAuthProvider: (user: User) => (user.authProvider as { name?: string } | undefined)?.name === tokenFileProvider,
    async applyAuthentication(user, opts) {
      const file = (user.authProvider as { config: { path: string } }).config.path;
      const token = tokenIn(file);
      if (!token) return;
      opts.headers = { ...opts.headers, Authorization: `Bearer ${token}` };
    },
  };
}
