import { z } from 'zod';
import { commonStatusShape } from './common-status.ts';
import { resourceSchema } from './resource-schema.ts';
import { withCelRules } from './with-cel-rules.ts';

// Headers that carry the credential or framing; the gateway owns them, so a Provider overriding
// one would either leak a second credential in plain text or corrupt the forwarded request.
const reservedHeaders = ['authorization', 'x-api-key', 'host', 'content-length', 'transfer-encoding', 'connection'];
const headerName = /^[A-Za-z0-9][A-Za-z0-9-]*$/;

export const providerSpecSchema = z
  .strictObject({
    type: withCelRules(
      z
        .enum(['anthropic', 'openai', 'openai-compatible'])
        .describe(
          'API dialect of the upstream. anthropic: the Anthropic Messages API. openai: the OpenAI API (Chat Completions and Responses). openai-compatible: a server that speaks the OpenAI Chat Completions API, such as vLLM, Ollama or LiteLLM. Immutable: create a new Provider to change it.',
        ),
      // Models, usage accounting and stored keys are interpreted per dialect; switching it in
      // place would silently reinterpret all of them.
      [{ rule: 'self == oldSelf', message: 'type is immutable; create a new Provider instead' }],
    ),
    baseURL: withCelRules(
      z
        .string()
        .min(1)
        .max(2048)
        .describe(
          'Root URL of the upstream API, e.g. https://api.anthropic.com or https://api.openai.com. The gateway appends the request path (such as /v1/messages), so leave out /v1.',
        ),
      [
        {
          rule: "isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",
          message: 'baseURL must be an absolute http or https URL, e.g. https://api.anthropic.com',
          check: isHttpUrl,
        },
      ],
    ),
    apiKeySecretRef: z
      .strictObject({
        name: z
          .string()
          .min(1)
          .max(253)
          .regex(
            /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
            'must be a valid Secret name (lowercase DNS subdomain)',
          )
          .describe("Name of a Secret in the Provider's namespace."),
        key: z
          .string()
          .min(1)
          .max(253)
          .regex(/^[-._a-zA-Z0-9]+$/, 'must be a valid Secret data key')
          .describe("Key within the Secret's data whose value is the API key."),
      })
      .describe(
        'The Secret that holds the upstream API key. The operator stores the key encrypted for the gateways and reconciles again when the Secret changes; status and audit entries show only a fingerprint.',
      ),
    headers: withCelRules(
      z
        .record(z.string(), z.string().max(4096))
        .refine((h) => Object.keys(h).length <= 32, 'at most 32 headers')
        .meta({ maxProperties: 32 })
        .optional()
        .describe(
          'Extra HTTP headers sent with every upstream request, e.g. OpenAI-Organization. Values are stored in plain text in this resource: put credentials in apiKeySecretRef.',
        ),
      [
        {
          rule: `self.all(k, k.matches('${headerName.source}'))`,
          message: 'header names may contain only letters, digits and hyphens',
          check: (h) => h === undefined || Object.keys(h).every((k) => headerName.test(k)),
        },
        {
          rule: `self.all(k, !(k.lowerAscii() in [${reservedHeaders.map((h) => `'${h}'`).join(', ')}]))`,
          message: `headers must not set ${reservedHeaders.join(', ')}: the gateway sets them`,
          check: (h) => h === undefined || Object.keys(h).every((k) => !reservedHeaders.includes(k.toLowerCase())),
        },
      ],
    ),
    timeoutSeconds: z
      .int()
      .min(1)
      .max(3600)
      .default(600)
      .describe(
        'Longest an upstream request may take, from sending it to the end of the (streamed) response, in seconds. Agents stream long answers, so keep it generous.',
      ),
  })
  .describe('Desired state of the Provider.');
export type ProviderSpec = z.infer<typeof providerSpecSchema>;

export const providerStatusSchema = z
  .strictObject({
    ...commonStatusShape,
    apiKeyFingerprint: z
      .string()
      .regex(/^[0-9a-f]{8}$/)
      .optional()
      .describe(
        'First 8 hex characters of the SHA-256 of the API key the gateways use: tells which key version is in force without revealing it.',
      ),
    latencyP50Ms: z
      .int()
      .min(0)
      .optional()
      .describe(
        'Median time from sending a request upstream to its response headers over the last minute, across every gateway replica, in milliseconds. Unset when nothing was sent in the last minute.',
      ),
    latencyP95Ms: z
      .int()
      .min(0)
      .optional()
      .describe('95th percentile of the same time, in milliseconds. Unset when nothing was sent in the last minute.'),
    requestsLastMinute: z
      .int()
      .min(0)
      .optional()
      .describe('Upstream attempts in the last minute across every gateway replica (each fallback attempt counts).'),
    errorsLastMinute: z
      .int()
      .min(0)
      .optional()
      .describe(
        'Attempts of the last minute that failed on the upstream side: unreachable, timed out, HTTP 429 or 5xx, or 401/403 for the API key. A client mistake (400, 404) is not counted.',
      ),
    lastError: z
      .strictObject({
        at: z.iso.datetime({ offset: true }).describe('When the gateway saw the failure (RFC 3339).'),
        status: z.int().min(0).max(999).describe('HTTP status of the upstream answer; 0 when it never answered.'),
        outcome: z
          .string()
          .max(64)
          .describe("How the attempt ended, in the gateway's words: upstream_error, upstream_timeout or fallback."),
        message: z
          .string()
          .max(256)
          .describe("What happened, in the gateway's words. Never the upstream's own message, which may quote the credential it refused."),
      })
      .optional()
      .describe('The latest upstream failure any gateway replica saw in the last 24 hours. Unset when there was none.'),
  })
  .describe('Observed state of the Provider, written by the operator.');
export type ProviderStatus = z.infer<typeof providerStatusSchema>;

/** The same test as the CEL rule: Go's url.ParseRequestURI and WHATWG URL agree on http(s) URLs with a host. */
function isHttpUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
}

export const providerSchema = resourceSchema('Provider', providerSpecSchema, providerStatusSchema);
export type Provider = z.infer<typeof providerSchema>;
