import type { DatabasePool } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import type { AuditAnchor } from './audit/audit-anchor.ts';
import type { PasswordIdentityProvider } from './auth/identity-provider.ts';
import type { LoginThrottle } from './auth/login-throttle.ts';
import type { OidcSignIn } from './auth/oidc-sign-in.ts';
import type { SessionStore } from './auth/session-store.ts';
import type { ConsoleConfig } from './config.ts';

// Its own file so that route plugins can name the dependencies they take without importing
// build-app.ts, which imports them: that pair was the tree's only import loop.
/** Everything the console API runs on, wired by create-deps.ts; each route plugin takes the part it needs. */
export type AppDeps = {
  config: ConsoleConfig;
  pool: DatabasePool;
  /** Long-running reads (export, verify) get their own pool without a statement timeout. */
  exportPool: DatabasePool;
  logger: Logger;
  sessions: SessionStore;
  throttle: LoginThrottle;
  identityProvider: PasswordIdentityProvider;
  /** Single sign-on, when OIDC_ISSUER_URL is set. */
  oidc: OidcSignIn | null;
  /** Signed checkpoints outside PostgreSQL (ADR 0401); null when no checkpoint store is configured. */
  anchor: AuditAnchor | null;
};
