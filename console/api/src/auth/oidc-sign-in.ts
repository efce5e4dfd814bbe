import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { auditDiff } from '@codevector/core/audit-diff';
import { type DatabasePool, type DatabaseTransactionConnection, sql, statement } from '@codevector/core/create-pool';
import { writeAuditEntry } from '@codevector/core/write-audit-entry';
import * as oidc from 'openid-client';
import { z } from 'zod';
import type { ConsoleConfig } from '../config.ts';
import { type Role, roles } from './auth-contract.ts';
import type { Identity } from './identity-provider.ts';

/**
 * Single sign-on with any OpenID Connect provider (Dex, Okta, Entra ID, Keycloak, Google):
 * authorization code flow with PKCE and nonce (openid-client, OpenID Certified). At every sign-in
 * the IdP's group claim decides the role (OIDC_ROLE_MAPPING) and the CodeVector groups the person
 * is in (OIDC_GROUP_MAPPING), so a person removed from an IdP group loses what it granted at
 * their next sign-in. Accounts are matched on (idp, subject), never on e-mail alone; an account
 * the same IdP provisioned over SCIM (same idp name, no subject yet) is linked by e-mail.
 */
export type OidcSignIn = {
  /** The name shown on the sign-in button. */
  displayName: string;
  /** Where to send the browser, and the cookie that ties the callback to this attempt. */
  begin(redirectUri: string, returnTo: string): Promise<{ url: URL; cookie: string }>;
  /** Completes the flow from the callback URL; null when the attempt is not valid (audited). */
  complete(callbackUrl: URL, cookie: string | undefined, meta: { ip: string }): Promise<{ identity: Identity; returnTo: string }>;
};

export class OidcSignInError extends Error {}

const mappingSchema = z
  .string()
  .default('')
  .transform((text) =>
    text
      .split(',')
      .map((pair) => pair.trim())
      .filter(Boolean)
      .map((pair) => {
        const at = pair.lastIndexOf('=');
        return { from: pair.slice(0, at).trim(), to: pair.slice(at + 1).trim() };
      }),
  );

const attemptSchema = z.object({ state: z.string(), nonce: z.string(), verifier: z.string(), returnTo: z.string(), exp: z.number() });

export function createOidcSignIn(pool: DatabasePool, config: ConsoleConfig): OidcSignIn | null {
  const issuer = config.OIDC_ISSUER_URL;
  if (!issuer || !config.OIDC_CLIENT_ID) return null;
  const secret = config.OIDC_CLIENT_SECRET_FILE
    ? readFileSync(config.OIDC_CLIENT_SECRET_FILE, 'utf8').trim()
    : (config.OIDC_CLIENT_SECRET ?? '');
  const idp = config.OIDC_IDP_NAME;
  const roleMapping = mappingSchema.parse(config.OIDC_ROLE_MAPPING);
  const groupMapping = mappingSchema.parse(config.OIDC_GROUP_MAPPING);
  for (const { to } of roleMapping)
    if (!(roles as readonly string[]).includes(to)) throw new Error(`OIDC_ROLE_MAPPING: unknown role ${to}`);
  const insecure = new URL(issuer).protocol === 'http:';
  let discovered: Promise<oidc.Configuration> | null = null;
  // Discovery once, retried on the next sign-in if the IdP was down.
  const configuration = () => {
    discovered ??= oidc
      .discovery(
        new URL(issuer),
        config.OIDC_CLIENT_ID!,
        secret,
        undefined,
        insecure ? { execute: [oidc.allowInsecureRequests] } : undefined,
      )
      .catch((error: unknown) => {
        discovered = null;
        throw error;
      });
    return discovered;
  };
  const sign = (payload: string) => createHmac('sha256', config.SESSION_SECRET).update(`oidc:${payload}`).digest('base64url');

  /** The role the groups grant: the strongest mapped one (admin > auditor > member), else the default. */
  function roleFor(groups: string[]): Role | null {
    const granted = roleMapping.filter((m) => groups.includes(m.from)).map((m) => m.to as Role);
    for (const role of roles) if (granted.includes(role)) return role;
    return config.OIDC_DEFAULT_ROLE === 'none' ? null : config.OIDC_DEFAULT_ROLE;
  }

  async function refuse(reason: string, who: string, ip: string): Promise<never> {
    await pool.transaction((tx) =>
      writeAuditEntry(tx, {
        action: 'user.sign_in_failed',
        targetType: 'user',
        targetName: who.slice(0, 320),
        actor: who.slice(0, 320),
        actorSource: 'idp',
        detail: { idp, reason, ip },
      }),
    );
    throw new OidcSignInError(reason);
  }

  /** Makes the person's CodeVector groups match what OIDC_GROUP_MAPPING grants; other groups are left alone. */
  async function syncGroups(tx: DatabaseTransactionConnection, user: { id: string; email: string }, claimed: string[]) {
    const managed = [...new Set(groupMapping.map((m) => m.to))];
    if (managed.length === 0) return;
    const wanted = new Set(groupMapping.filter((m) => claimed.includes(m.from)).map((m) => m.to));
    const existing = await tx.any(sql.type(z.object({ id: z.string(), name: z.string(), member: z.boolean() }))`
      select g.id::text, g.name, exists(select 1 from group_members gm where gm.group_id = g.id and gm.user_id = ${user.id}::uuid) as member
      from groups g where g.name = any(${sql.array(managed, 'text')})`);
    for (const group of existing) {
      const should = wanted.has(group.name);
      if (should === group.member) continue;
      if (should) await tx.query(statement`insert into group_members (group_id, user_id) values (${group.id}::uuid, ${user.id}::uuid)`);
      else await tx.query(statement`delete from group_members where group_id = ${group.id}::uuid and user_id = ${user.id}::uuid`);
      await writeAuditEntry(tx, {
        action: should ? 'group.member_added' : 'group.member_removed',
        targetType: 'group',
        targetId: group.id,
        targetName: group.name,
        actor: idp,
        actorSource: 'idp',
        detail: {
          ...(should
            ? auditDiff({ members: {} }, { members: { [user.id]: user.email } })
            : auditDiff({ members: { [user.id]: user.email } }, { members: {} })),
          source: 'group claim',
        },
      });
    }
  }

  return {
    displayName: config.OIDC_DISPLAY_NAME,

    async begin(redirectUri, returnTo) {
      const cfg = await configuration();
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const url = oidc.buildAuthorizationUrl(cfg, {
        redirect_uri: redirectUri,
        scope: config.OIDC_SCOPES,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      const payload = Buffer.from(JSON.stringify({ state, nonce, verifier, returnTo, exp: Date.now() + 10 * 60_000 })).toString(
        'base64url',
      );
      return { url, cookie: `${payload}.${sign(payload)}` };
    },

    async complete(callbackUrl, cookie, meta) {
      const [payload = '', mac = ''] = (cookie ?? '').split('.');
      const expected = Buffer.from(sign(payload));
      if (!cookie || mac.length !== expected.length || !timingSafeEqual(Buffer.from(mac), expected)) {
        return refuse('no sign-in attempt from this browser (start again)', 'unknown', meta.ip);
      }
      const attempt = attemptSchema.parse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
      if (attempt.exp < Date.now()) return refuse('the sign-in attempt expired (start again)', 'unknown', meta.ip);
      const cfg = await configuration();
      let claims: Record<string, unknown>;
      try {
        const tokens = await oidc.authorizationCodeGrant(cfg, callbackUrl, {
          pkceCodeVerifier: attempt.verifier,
          expectedState: attempt.state,
          expectedNonce: attempt.nonce,
          idTokenExpected: true,
        });
        claims = { ...tokens.claims() };
        // Some IdPs put groups only in userinfo.
        if (claims[config.OIDC_GROUPS_CLAIM] === undefined || claims['email'] === undefined) {
          claims = { ...(await oidc.fetchUserInfo(cfg, tokens.access_token, String(claims['sub']))), ...claims };
        }
      } catch (error) {
        // An error the IdP sent back (RFC 6749 §4.1.2.1: the person cancelled, consent denied)
        // says so in its own code, which is what an auditor looks for.
        const sent = error as { error?: unknown; error_description?: unknown };
        if (error instanceof oidc.AuthorizationResponseError && typeof sent.error === 'string') {
          const description = typeof sent.error_description === 'string' ? ` (${sent.error_description})` : '';
          return refuse(`the identity provider refused the sign-in: ${`${sent.error}${description}`.slice(0, 200)}`, 'unknown', meta.ip);
        }
        const detail = error instanceof Error ? error.message : String(error);
        return refuse(`the identity provider's answer was refused: ${detail.slice(0, 200)}`, 'unknown', meta.ip);
      }
      const subject = String(claims['sub']);
      const email = typeof claims['email'] === 'string' ? claims['email'] : '';
      const name = typeof claims['name'] === 'string' ? claims['name'] : '';
      const rawGroups = claims[config.OIDC_GROUPS_CLAIM];
      const groups = Array.isArray(rawGroups) ? rawGroups.filter((g): g is string => typeof g === 'string') : [];
      if (!email) return refuse('the identity provider sent no e-mail claim', subject, meta.ip);
      if (claims['email_verified'] === false) return refuse('the e-mail address is not verified at the identity provider', email, meta.ip);
      const role = roleFor(groups);
      if (!role) return refuse('no group of this person is mapped to a console role', email, meta.ip);

      const userId = await pool.transaction(async (tx) => {
        let user = await tx.maybeOne(sql.type(z.object({ id: z.string(), email: z.string(), role: z.enum(roles), disabled: z.boolean() }))`
          select id::text, email, role, disabled_at is not null as disabled from users
          where (idp = ${idp} and idp_subject = ${subject})
             or (idp = ${idp} and idp_subject is null and lower(email) = lower(${email}))
          order by idp_subject is null limit 1 for update`);
        if (user?.disabled) return null;
        if (!user) {
          const taken = await tx.exists(sql.unsafe`select 1 from users where lower(email) = lower(${email})`);
          if (taken) return 'taken' as const;
          user = await tx.one(sql.type(z.object({ id: z.string(), email: z.string(), role: z.enum(roles), disabled: z.boolean() }))`
            insert into users (email, display_name, role, idp, idp_subject) values (${email}, ${name}, ${role}, ${idp}, ${subject})
            returning id::text, email, role, false as disabled`);
          await writeAuditEntry(tx, {
            action: 'user.created',
            targetType: 'user',
            targetId: user.id,
            targetName: email,
            actor: idp,
            actorSource: 'idp',
            detail: { ...auditDiff(null, { email, displayName: name, role }), source: 'first sign-in' },
          });
        } else {
          await tx.query(statement`
            update users set idp_subject = ${subject}, email = ${email}, display_name = coalesce(nullif(${name}, ''), display_name),
              role = ${role}, updated_at = now() where id = ${user.id}::uuid`);
          if (user.role !== role) {
            await writeAuditEntry(tx, {
              action: 'user.role_changed',
              targetType: 'user',
              targetId: user.id,
              targetName: email,
              actor: idp,
              actorSource: 'idp',
              detail: { ...auditDiff({ role: user.role }, { role }), source: 'group claim', groups: groups.slice(0, 50) },
            });
          }
        }
        await syncGroups(tx, user, groups);
        await writeAuditEntry(tx, {
          action: 'user.signed_in',
          targetType: 'user',
          targetId: user.id,
          targetName: email,
          actor: email,
          actorSource: 'console',
          detail: { idp, role, ip: meta.ip },
        });
        return user.id;
      });
      if (userId === null) return refuse('this account is disabled', email, meta.ip);
      if (userId === 'taken')
        return refuse('a local account already uses this e-mail; an admin must remove or rename it first', email, meta.ip);
      return { identity: { userId, idp }, returnTo: attempt.returnTo };
    },
  };
}
