import { z } from 'zod';
import { commonStatusShape } from './common-status.ts';
import { resourceSchema } from './resource-schema.ts';
import { withCelRules } from './with-cel-rules.ts';

/**
 * Built-in detector packs. Most match only formats with a strong prefix and fixed shape, and
 * validate structure or checksums where the format has one; `generic` and `connection-strings`
 * rest on key names, context and entropy (see docs on secret formats and ADR 0115).
 * The gateway's scanner implements exactly these names.
 */
export const secretDetectorPacks = {
  cloud:
    'AWS access key ids (AKIA, ASIA, … with the account-id structure check), AWS secret access keys next to a key id, AWS session tokens, Google API keys (AIza…), Azure storage account keys next to the account name or in a connection string.',
  vcs: 'GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_ with their CRC32 checksum; github_pat_ fine-grained tokens) and GitLab tokens (glpat- and other gl*- prefixes).',
  'package-registries': 'npm tokens (npm_ with their CRC32 checksum) and PyPI API tokens (pypi- macaroons for pypi.org and test.pypi.org).',
  payments: 'Stripe live secret and restricted keys (sk_live_, rk_live_). Publishable keys are public and test-mode keys are ignored.',
  'llm-providers':
    'Anthropic keys (sk-ant-api03-, sk-ant-admin01-), OpenAI keys (sk-proj-, sk-svcacct-, sk-admin- and legacy keys carrying the T3BlbkFJ marker) and Hugging Face tokens (hf_, api_org_).',
  messaging:
    'Slack tokens (xoxb-, xoxp-, xoxa-, xoxr-, xoxe, xapp-) and incoming webhook URLs, SendGrid keys (SG.), Twilio auth tokens next to an Account SID.',
  'private-keys':
    'PEM private keys (RSA, EC, DSA, PKCS#8, encrypted) and OpenSSH private keys, also when JSON-escaped, and the same keys base64-encoded (as in Kubernetes Secret data). Public keys and certificates are ignored.',
  jwt: 'JSON Web Tokens whose header decodes. Tokens with alg none and expired tokens are ignored.',
  'database-urls':
    'Connection URLs with an inline password (postgres, mysql, mongodb, redis, amqp), except placeholders, localhost and well-known default credentials.',
  'connection-strings':
    'Password=/Pwd= in ADO.NET, ODBC and JDBC connection strings, and user:password@ in the userinfo of any URL (https, ftp, git, …), except placeholders, localhost and default credentials.',
  generic:
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${VAR} is the literal placeholder the text names
    'Secret-named keys (password, secret, token, api_key, private_key, …) assigned a random-looking value in .env files, shell export, YAML, JSON, TOML and code, and Kubernetes Secret data whose base64 decodes to one; key names that describe a secret (password_hash, tokenUrl) and values that refer to one (${VAR}, process.env.X, placeholders) are ignored. Weaker than the validated formats: consider redact or observe for this pack.',
  codevector: 'CodeVector virtual keys (cvk_): a key pasted into a prompt would let whoever reads the transcript spend its budget.',
  all: 'Every pack above, and packs added in later versions.',
} as const;
export type SecretDetectorPack = keyof typeof secretDetectorPacks;
const packNames = Object.keys(secretDetectorPacks) as [SecretDetectorPack, ...SecretDetectorPack[]];

const patternName = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const secretPatternSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(63)
      .regex(patternName, 'must be lowercase letters, digits and hyphens')
      .describe('Identifier of the pattern, unique within the rule; shown in rejections and the audit log.'),
    regex: z
      .string()
      .min(1)
      .max(4096)
      .describe(
        'Regular expression in RE2 syntax (no backreferences or lookaround), which guarantees linear-time matching on large prompts. Compile errors are reported in status.patternErrors.',
      ),
    keywords: z
      .array(z.string().min(2).max(64))
      .min(1)
      .max(16)
      .meta({ 'x-kubernetes-list-type': 'set' })
      .describe(
        'Literal words matched case-insensitively, at least one of which must occur in the request for the regex to run, e.g. the token prefix. This prefilter keeps scanning cheap on large prompts.',
      ),
    description: z.string().max(1024).optional().describe('What the pattern finds, for people reading the rule or a rejection.'),
  })
  .describe('A custom pattern.');
export type SecretPattern = z.infer<typeof secretPatternSchema>;

export const secretRuleSpecSchema = withCelRules(
  z
    .strictObject({
      detectors: z
        .array(z.enum(packNames))
        .min(1)
        .max(packNames.length)
        .optional()
        .meta({ 'x-kubernetes-list-type': 'set' })
        .describe(
          `Built-in detector packs to enable. ${Object.entries(secretDetectorPacks)
            .map(([name, text]) => `${name}: ${text}`)
            .join(' ')}`,
        ),
      patterns: z
        .array(secretPatternSchema)
        .min(1)
        .max(64)
        // The apiserver enforces unique names through the list-map keys; zod needs it spelled out.
        .refine((patterns) => new Set(patterns.map((p) => p.name)).size === patterns.length, 'pattern names must be unique')
        .optional()
        .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
        .describe('Custom patterns, for credentials the built-in packs do not know, such as internal token formats.'),
      severity: z
        .enum(['low', 'medium', 'high', 'critical'])
        .default('high')
        .describe('How serious a match is. Recorded with each rejection in the audit log and metrics; every severity blocks.'),
      action: z
        .enum(['block', 'redact', 'observe'])
        .default('block')
        .describe(
          'What happens on a match; every match records an event with the action taken. block: reject the request before it reaches the provider (gateway.secret_blocked). redact: replace each match with [REDACTED:<detector>] and forward the request, which then succeeds (gateway.secret_redacted). observe: forward the request unchanged (gateway.secret_observed), to watch a rule before it blocks. When rules disagree on one request, block wins over redact, and redact over observe.',
        ),
    })
    .describe('Desired state of the SecretRule. Set detectors, patterns or both.'),
  [
    {
      rule: 'has(self.detectors) || has(self.patterns)',
      message: 'set detectors, patterns or both',
      check: (spec) => spec.detectors !== undefined || spec.patterns !== undefined,
    },
  ],
);
export type SecretRuleSpec = z.infer<typeof secretRuleSpecSchema>;

export const secretRuleStatusSchema = z
  .strictObject({
    ...commonStatusShape,
    compiledPatterns: z.int().min(0).optional().describe('How many custom patterns compiled and are enforced.'),
    patternErrors: z
      .array(
        z
          .strictObject({
            name: z.string().describe('Name of the pattern that failed.'),
            message: z.string().describe('Why the regex did not compile.'),
          })
          .describe('A pattern that did not compile.'),
      )
      .optional()
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
      .describe('Patterns that did not compile; they are not enforced. Empty when every pattern compiled.'),
  })
  .describe('Observed state of the SecretRule, written by the operator.');
export type SecretRuleStatus = z.infer<typeof secretRuleStatusSchema>;

export const secretRuleSchema = resourceSchema('SecretRule', secretRuleSpecSchema, secretRuleStatusSchema);
export type SecretRule = z.infer<typeof secretRuleSchema>;
