/** Who signed in, as vouched for by one identity provider; sessions only ever see this. */
export type Identity = { userId: string; idp: string };

/**
 * How a user proves who they are. Local accounts check a password; an OIDC provider will be a
 * `RedirectIdentityProvider` (begin → IdP → callback) that maps (issuer, subject) onto
 * users.idp / users.idp_subject. Sessions, roles and audit do not change when one is added.
 */
export type PasswordIdentityProvider = {
  readonly kind: 'password';
  readonly id: string;
  /** Resolves the identity, or null for any failure (unknown, wrong password, disabled). */
  authenticate(email: string, password: string): Promise<Identity | null>;
};

export type RedirectIdentityProvider = {
  readonly kind: 'redirect';
  readonly id: string;
  /** Where to send the browser; `state` ties the callback to this attempt. */
  beginSignIn(state: string, redirectUri: string): Promise<URL>;
  completeSignIn(params: Record<string, string>, state: string, redirectUri: string): Promise<Identity | null>;
};

export type IdentityProvider = PasswordIdentityProvider | RedirectIdentityProvider;
