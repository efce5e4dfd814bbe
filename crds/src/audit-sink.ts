import { z } from 'zod';
import { commonStatusShape } from './common-status.ts';
import { resourceSchema } from './resource-schema.ts';
import { withCelRules } from './with-cel-rules.ts';

const secretKeyRef = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a valid Secret name (lowercase DNS subdomain)')
      .describe("Name of a Secret in the AuditSink's namespace, labelled codevector.dev/provider-secret=true."),
    key: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[-._a-zA-Z0-9]+$/, 'must be a valid Secret data key')
      .describe('Key within the Secret.'),
  })
  .describe('A value kept in a Secret; never stored by CodeVector.');

const httpsOrHttpUrl = (description: string) =>
  withCelRules(z.string().min(1).max(2048).describe(description), [
    {
      rule: "isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",
      message: 'must be an absolute http or https URL',
      check: (value) => {
        try {
          const url = new URL(value);
          return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
        } catch {
          return false;
        }
      },
    },
  ]);

export const auditSinkSpecSchema = withCelRules(
  z
    .strictObject({
      type: z
        .enum(['otlp', 'syslog', 'webhook'])
        .describe(
          'otlp: OpenTelemetry logs over OTLP/HTTP (JSON encoding). syslog: RFC 5424 messages over TCP, octet-counted (RFC 6587), optionally TLS (RFC 5425). webhook: HTTPS POST of JSON batches signed with HMAC-SHA256.',
        ),
      otlp: z
        .strictObject({
          endpoint: httpsOrHttpUrl('The OTLP/HTTP logs endpoint, e.g. https://otel-collector.observability:4318/v1/logs.'),
          headersSecretRef: z
            .strictObject({ name: secretKeyRef.shape.name })
            .optional()
            .describe('A Secret whose keys and values are sent as HTTP headers (e.g. an API key the collector requires).'),
        })
        .optional()
        .describe('Where OTLP logs go; required when type is otlp.'),
      syslog: z
        .strictObject({
          address: z
            .string()
            .min(3)
            .max(300)
            .regex(/^[A-Za-z0-9.-]+:[0-9]{1,5}$|^\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}$/, 'must be host:port')
            .describe('The receiver, host:port (TCP), e.g. siem.example.com:6514.'),
          tls: z.boolean().default(false).describe('Connect with TLS (RFC 5425) and verify the receiver certificate.'),
          appName: z
            .string()
            .min(1)
            .max(48)
            .regex(/^[!-~]+$/, 'printable ASCII without spaces')
            .default('codevector')
            .describe('APP-NAME of each message.'),
        })
        .optional()
        .describe('Where syslog messages go; required when type is syslog.'),
      webhook: z
        .strictObject({
          url: httpsOrHttpUrl('The HTTPS endpoint that receives POSTed batches.'),
          hmacSecretRef: secretKeyRef.describe(
            'The key of the HMAC-SHA256 signature sent in X-CodeVector-Signature (sha256=<hex> over "<timestamp>.<body>").',
          ),
        })
        .optional()
        .describe('Where webhook batches go; required when type is webhook.'),
      batchSize: z.int().min(1).max(1000).default(100).describe('Most audit rows per delivery.'),
    })
    .describe('Desired state of the AuditSink.'),
  [
    {
      rule: "self.type != 'otlp' || has(self.otlp)",
      message: 'otlp is required when type is otlp',
      check: (s) => s.type !== 'otlp' || s.otlp !== undefined,
    },
    {
      rule: "self.type != 'syslog' || has(self.syslog)",
      message: 'syslog is required when type is syslog',
      check: (s) => s.type !== 'syslog' || s.syslog !== undefined,
    },
    {
      rule: "self.type != 'webhook' || has(self.webhook)",
      message: 'webhook is required when type is webhook',
      check: (s) => s.type !== 'webhook' || s.webhook !== undefined,
    },
  ],
);
export type AuditSinkSpec = z.infer<typeof auditSinkSpecSchema>;

export const auditSinkStatusSchema = z
  .strictObject({
    ...commonStatusShape,
    lastDeliveredSequence: z
      .int()
      .min(0)
      .optional()
      .meta({ format: 'int64' })
      .describe('Chain sequence number of the last audit row the sink acknowledged.'),
    lagRows: z.int().min(0).optional().meta({ format: 'int64' }).describe('Sealed audit rows not yet delivered.'),
    lastDeliveredAt: z.string().optional().describe('When the sink last acknowledged a delivery (RFC 3339).'),
    lastError: z.string().max(1024).optional().describe('The last delivery failure, if the latest attempt failed.'),
  })
  .describe('Observed state of the AuditSink, written by the operator.');

export const auditSinkSchema = resourceSchema('AuditSink', auditSinkSpecSchema, auditSinkStatusSchema);
export type AuditSink = z.infer<typeof auditSinkSchema>;
