import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration } from 'oidc-provider';

/**
 * A real OpenID Provider for the console's SSO tests and `npm start -- --demo`: node-oidc-provider
 * (OpenID Certified) run as a server on loopback, with one confidential client and a few people
 * whose `groups` claim the console maps to roles. Its own login and consent pages (the library's
 * dev interactions) take any known account name; passwords are not checked.
 */
export type OidcTestAccount = { id: string; email: string; name: string; groups: string[] };

export type OidcTestProvider = {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Changes an account's groups (e.g. removed from the admins' group in the IdP). */
  setGroups(id: string, groups: string[]): void;
  close(): Promise<void>;
};

export async function startOidcProvider(options: {
  redirectUris: string[];
  accounts: OidcTestAccount[];
  clientId?: string;
  clientSecret?: string;
  port?: number;
}): Promise<OidcTestProvider> {
  const accounts = new Map(options.accounts.map((a) => [a.id, { ...a }]));
  const clientId = options.clientId ?? 'codevector-console';
  const clientSecret = options.clientSecret ?? 'codevector-console-secret-0123456789';
  // The issuer must be known before the provider exists: listen first, then mount it.
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
  const server: Server = createServer((req, res) => {
    if (handler) handler(req, res);
    else {
      res.statusCode = 503;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const configuration: Configuration = {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    async findAccount(_ctx, id) {
      const account = accounts.get(id);
      if (!account) return undefined;
      return {
        accountId: id,
        claims: async () => ({ sub: id, email: account.email, email_verified: true, name: account.name, groups: account.groups }),
      };
    },
    // Short-lived, as a real IdP's are; no cookie keys to manage in tests.
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
  };
  const provider = new Provider(issuer, configuration);
  provider.on('server_error', () => {});
  handler = provider.callback();
  return {
    issuer,
    clientId,
    clientSecret,
    setGroups(id, groups) {
      const account = accounts.get(id);
      if (account) account.groups = groups;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
