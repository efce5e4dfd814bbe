import { isIP } from 'node:net';
import { loadConfig } from '@codevector/core/load-config';
import { z } from 'zod';

const booleanish = z.enum(['true', 'false', 'auto']);
// Names proxy-addr (fastify's trustProxy) understands besides addresses and CIDRs.
const proxyNames = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** The console's environment, parsed once at start-up (STYLE "Config"). */
export const consoleConfigSchema = z.object({
  DATABASE_URL: z.string().url(),
  PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  HOST: z.string().default('127.0.0.1'),
  /** Prometheus metrics (and /healthz, /readyz) on their own port, away from users; unset = not served (the chart sets 9464). */
  METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  METRICS_HOST: z.string().default('127.0.0.1'),
  LOG_LEVEL: z.string().default('info'),
  /** Mixed into session token hashing; rotate it to sign everyone out. At least 32 characters. */
  SESSION_SECRET: z.string().min(32, 'SESSION_SECRET must be at least 32 characters'),
  SESSION_TTL_HOURS: z.coerce.number().positive().default(12),
  /** `auto` sets Secure when the request arrived over https (X-Forwarded-Proto counts only from a TRUST_PROXY address). */
  COOKIE_SECURE: booleanish.default('auto'),
  /**
   * The proxies in front of the console (the ingress controller): `false`, or comma-separated
   * addresses and CIDRs. Only requests from them have X-Forwarded-For/-Proto believed, for the
   * client address (sign-in throttling) and https (the Secure cookie). Trusting every hop (`true`)
   * would let any client pick its own address and scheme, so it is refused.
   */
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((v) => (v === 'false' || v === '' ? [] : v.split(',').map((a) => a.trim())))
    .pipe(
      z.array(
        z
          .string()
          .refine(
            (a) => proxyNames.has(a) || isIP(a.split('/')[0] ?? '') !== 0,
            'TRUST_PROXY takes `false` or addresses/CIDRs of your proxies (loopback, linklocal and uniquelocal also work), not `true`',
          ),
      ),
    ),
  /** SCIM 2.0 provisioning at /scim/v2 (off unless a token is set): a file holding the bearer token (a mounted Secret; re-read when it changes). */
  CODEVECTOR_SCIM_TOKEN_FILE: z.string().optional(),
  /** The SCIM bearer token itself, for development; prefer the file. */
  CODEVECTOR_SCIM_TOKEN: z.string().min(32, 'the SCIM token needs at least 32 characters').optional(),
  /** The identity provider's name: the actor of SCIM changes and the `idp` of the accounts it manages. */
  CODEVECTOR_SCIM_IDP: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and -')
    .refine((name) => name !== 'local', 'local names password accounts')
    .default('scim'),
  /** Password sign-in (the bootstrap admin's break-glass way in). `false` leaves SSO as the only way. */
  CONSOLE_LOCAL_LOGIN: z.enum(['true', 'false']).default('true'),
  /** Single sign-on (auth/oidc-sign-in.ts): the OpenID provider's issuer URL; unset = SSO off. */
  OIDC_ISSUER_URL: z.string().url().optional(),
  OIDC_CLIENT_ID: z.string().optional(),
  OIDC_CLIENT_SECRET: z.string().optional(),
  /** A file holding the client secret (a mounted Secret); preferred over OIDC_CLIENT_SECRET. */
  OIDC_CLIENT_SECRET_FILE: z.string().optional(),
  OIDC_SCOPES: z.string().default('openid email profile groups'),
  /** The claim holding the person's IdP groups (Dex, Okta: `groups`; Entra ID: `groups` or `roles`). */
  OIDC_GROUPS_CLAIM: z.string().default('groups'),
  /** IdP group → console role, e.g. `platform-admins=admin,security=auditor`; the strongest match wins. */
  OIDC_ROLE_MAPPING: z.string().default(''),
  /** Role of people in no mapped group; `none` refuses them. */
  OIDC_DEFAULT_ROLE: z.enum(['admin', 'auditor', 'member', 'none']).default('member'),
  /** IdP group → CodeVector group (for Budgets and RateLimits by group), e.g. `ml-team=ml`; applied at every sign-in. */
  OIDC_GROUP_MAPPING: z.string().default(''),
  /** Shown on the sign-in button. */
  OIDC_DISPLAY_NAME: z.string().default('SSO'),
  /** The IdP's name in users.idp and the audit log; the same name as CODEVECTOR_SCIM_IDP links SCIM-provisioned accounts. */
  OIDC_IDP_NAME: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/)
    .default('oidc'),
  /** The callback URL registered at the IdP; default: this request's origin + /api/auth/oidc/callback. */
  OIDC_REDIRECT_URL: z.string().url().optional(),
  CODEVECTOR_BOOTSTRAP_ADMIN_EMAIL: z.string().email().optional(),
  CODEVECTOR_BOOTSTRAP_ADMIN_PASSWORD: z.string().min(12, 'the bootstrap admin password needs at least 12 characters').optional(),
  /**
   * Break glass: apply CODEVECTOR_BOOTSTRAP_ADMIN_PASSWORD to the bootstrap admin again on this
   * start (audited; its sessions end). Otherwise the password is set once, at creation.
   */
  CODEVECTOR_BOOTSTRAP_ADMIN_RESET: z.enum(['true', 'false']).default('false'),
  /** The URL agents use to reach the gateway; shown on the Connect page. */
  GATEWAY_PUBLIC_URL: z.string().url().default('http://127.0.0.1:8090'),
  /** Folder of the built web app (console/web/dist); unset means the API runs without a UI. */
  CONSOLE_WEB_DIST: z.string().optional(),
  AUDIT_SEALER_INTERVAL_MS: z.coerce.number().int().positive().default(1000),
  /**
   * Signed checkpoints of the chain head (ADR 0401): the folder they go to (a PersistentVolume
   * in the chart), and the Ed25519 private key (PKCS#8 PEM) as a file or as the value itself.
   * Without both, the chain is not anchored outside the database.
   */
  AUDIT_CHECKPOINT_DIR: z.string().min(1).optional(),
  AUDIT_CHECKPOINT_KEY_FILE: z.string().min(1).optional(),
  AUDIT_CHECKPOINT_KEY: z.string().min(1).optional(),
  /** More public keys (PEM blocks) whose checkpoints verify: the keys used before a rotation. */
  AUDIT_CHECKPOINT_PUBLIC_KEYS_FILE: z.string().min(1).optional(),
  AUDIT_CHECKPOINT_INTERVAL_MS: z.coerce.number().int().positive().default(60_000),
  /** How often retention runs (the number of days kept is the migrator's setting, audit_retention). */
  AUDIT_RETENTION_INTERVAL_MS: z.coerce.number().int().positive().default(3_600_000),
  /** Every replica may seal (an advisory lock picks one at a time); `false` leaves sealing to others. */
  AUDIT_SEALER_ENABLED: z.enum(['true', 'false']).default('true'),
});
export type ConsoleConfig = z.infer<typeof consoleConfigSchema>;

/** @throws CodeVectorError CORE_CONFIG_INVALID listing every missing or invalid variable. */
export function loadConsoleConfig(env: Record<string, string | undefined>): ConsoleConfig {
  return loadConfig(consoleConfigSchema, env);
}
