/**
 * Which client headers go upstream (ADR 0113): an allow-list, not a deny-list, so a header
 * nobody thought of (a cookie, a proxy's `x-forwarded-for`, a second credential such as
 * `openai-organization`, whatever a hop-by-hop `connection:` names) never reaches a provider.
 * The list is what Claude Code, Codex and the official SDKs send and need
 * (/work/shared/notes/agent-clients.md): API versions and betas, idempotency keys, the SDK's
 * `x-stainless-*` telemetry, the user agent, content negotiation and trace context.
 */
const builtin = [
  'accept',
  'accept-encoding',
  'accept-language',
  'content-type',
  'content-encoding',
  'user-agent',
  'anthropic-version',
  'anthropic-beta',
  'openai-beta',
  'idempotency-key',
  'x-idempotency-key',
  'x-claude-code-session-id',
  'x-app',
  'x-request-id',
  'traceparent',
  'tracestate',
  'x-stainless-*',
];

/** Never forwarded, whatever UPSTREAM_HEADER_ALLOW says: credentials and hop-by-hop headers. */
const forbidden = new Set([
  'authorization',
  'x-api-key',
  'proxy-authorization',
  'cookie',
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'expect',
  'forwarded',
]);

export type UpstreamHeaderFilter = (lowerCaseName: string) => boolean;

/** The allow-list plus `extra` names (a trailing `*` is a prefix), minus what is never forwarded. */
export function createUpstreamHeaderFilter(extra: readonly string[] = []): UpstreamHeaderFilter {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of [...builtin, ...extra]) {
    const name = entry.trim().toLowerCase();
    if (!name) continue;
    if (name.endsWith('*')) prefixes.push(name.slice(0, -1));
    else exact.add(name);
  }
  const cache = new Map<string, boolean>();
  return (name) => {
    let allowed = cache.get(name);
    if (allowed === undefined) {
      allowed =
        !forbidden.has(name) &&
        !name.startsWith('proxy-') &&
        !name.startsWith('x-forwarded-') &&
        (exact.has(name) || prefixes.some((prefix) => name.startsWith(prefix)));
      if (cache.size < 1000) cache.set(name, allowed);
    }
    return allowed;
  };
}
