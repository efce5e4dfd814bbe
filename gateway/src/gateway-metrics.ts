import { formatUsd, type Money } from '@codevector/core/money';
import type { ProviderHealth } from './provider-health.ts';

/**
 * Prometheus metrics, hand-rolled: the request path only increments numbers in maps, and the
 * text format is built when /metrics is scraped (prom-client's label handling costs more per
 * request than the gateway's whole CPU budget allows for metrics; ADR 0130). The operator and the
 * console, off the request path, use prom-client.
 *
 * Labels are bounded by construction: `surface` is one of the gateway's routes, `model` the
 * declared name of a Model (never the string a client sent), `provider` a Provider's
 * namespace/name, `reason` and `outcome` fixed words, `status` an HTTP status. Nothing
 * identifies a key, a user or a request, and no value comes from a header or body.
 */
export type GatewayMetrics = {
  request(surface: string, status: number): void;
  /** An admitted request from arrival to its last byte (streams included). */
  requestDuration(surface: string, seconds: number): void;
  rejection(reason: string): void;
  /** Secret scanning of one request body (all SecretRules that govern its Model). */
  scanDuration(seconds: number): void;
  upstreamLatency(provider: string, seconds: number): void;
  /** An upstream attempt ended (answered or not); failures count in upstream_errors_total. */
  upstreamOutcome(provider: string, status: number, outcome: string): void;
  /** An upstream attempt that failed before its first byte and was passed to the next upstream. */
  fallback(model: string, provider: string, status: number): void;
  /** An upstream attempt sent in another API than the client's (ADR 0124), e.g. `anthropic` → `openai-chat`. */
  translated(from: string, to: string): void;
  tokens(model: string, kind: 'input' | 'output' | 'cache_read' | 'cache_write', count: number): void;
  /** Exact cost (picodollars); the sum stays exact and is rendered as a decimal. */
  cost(model: string, amount: Money): void;
  /** A value read at scrape time; `total` ones are counters kept elsewhere (rendered as counters). */
  setGauge(name: string, value: number, help?: string): void;
  render(): string;
};

const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
// Scanning a 500 KB agent prompt takes about a millisecond; unchanged blocks are skipped (ADR 0117).
const scanBuckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];

type Histogram = { labels: string; buckets: number[]; sum: number; count: number };

function observe(h: Histogram, bounds: readonly number[], value: number): void {
  // Buckets are stored per bound (not cumulative) and summed when rendered: one increment per observation.
  let i = 0;
  while (i < bounds.length && value > bounds[i]!) i++;
  if (i < bounds.length) h.buckets[i]!++;
  h.sum += value;
  h.count++;
}

function isFailure(status: number, outcome: string): boolean {
  if (outcome === 'upstream_timeout' || outcome === 'fallback' || status === 0) return true;
  return status >= 500 || status === 429 || status === 401 || status === 403;
}

/** The gateway's metrics table; `providerHealth` also receives each upstream answer (Provider status). */
export function createGatewayMetrics(options: { providerHealth?: ProviderHealth } = {}): GatewayMetrics {
  const health = options.providerHealth;
  const requests = new Map<string, number>();
  const rejections = new Map<string, number>();
  const tokens = new Map<string, number>();
  const cost = new Map<string, Money>();
  const gauges = new Map<string, { value: number; help?: string }>();
  const fallbacks = new Map<string, number>();
  const upstreamErrors = new Map<string, number>();
  const translations = new Map<string, number>();
  const latency = new Map<string, Histogram>();
  const durations = new Map<string, Histogram>();
  const scan: Histogram = { labels: '', buckets: scanBuckets.map(() => 0), sum: 0, count: 0 };
  const add = (map: Map<string, number>, key: string, by: number) => map.set(key, (map.get(key) ?? 0) + by);
  const escaped = new Map<string, string>();
  // Label values repeat (a handful of models, providers, surfaces): escape each once.
  const escapeLabel = (value: string) => {
    let out = escaped.get(value);
    if (out === undefined) {
      out = value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
      if (escaped.size < 10_000) escaped.set(value, out);
    }
    return out;
  };

  // Series keys are built once per label combination, so a request only looks up and adds.
  const requestKeys = new Map<string, Map<number, string>>();
  const tokenKeys = new Map<string, Record<'input' | 'output' | 'cache_read' | 'cache_write', string>>();
  const costKeys = new Map<string, string>();
  const tokenKeysFor = (model: string) => {
    let keys = tokenKeys.get(model);
    if (!keys) {
      const label = escapeLabel(model);
      keys = {
        input: `model="${label}",kind="input"`,
        output: `model="${label}",kind="output"`,
        cache_read: `model="${label}",kind="cache_read"`,
        cache_write: `model="${label}",kind="cache_write"`,
      };
      if (tokenKeys.size < 10_000) tokenKeys.set(model, keys);
    }
    return keys;
  };
  const histogramFor = (map: Map<string, Histogram>, key: string, labels: string, bounds: readonly number[]) => {
    let h = map.get(key);
    if (!h) {
      h = { labels, buckets: bounds.map(() => 0), sum: 0, count: 0 };
      map.set(key, h);
    }
    return h;
  };

  return {
    request(surface, status) {
      let byStatus = requestKeys.get(surface);
      if (!byStatus) {
        byStatus = new Map();
        if (requestKeys.size < 1000) requestKeys.set(surface, byStatus);
      }
      let key = byStatus.get(status);
      if (key === undefined) {
        key = `surface="${escapeLabel(surface)}",status="${status}"`;
        byStatus.set(status, key);
      }
      add(requests, key, 1);
    },
    requestDuration(surface, seconds) {
      observe(histogramFor(durations, surface, `surface="${escapeLabel(surface)}"`, latencyBuckets), latencyBuckets, seconds);
    },
    rejection: (reason) => add(rejections, `reason="${escapeLabel(reason)}"`, 1),
    scanDuration: (seconds) => observe(scan, scanBuckets, seconds),
    // Rare (a provider failing), so the key is built per call.
    translated: (from, to) => add(translations, `from="${escapeLabel(from)}",to="${escapeLabel(to)}"`, 1),
    fallback: (model, provider, status) =>
      add(fallbacks, `model="${escapeLabel(model)}",provider="${escapeLabel(provider)}",status="${status}"`, 1),
    upstreamLatency(provider, seconds) {
      observe(histogramFor(latency, provider, `provider="${escapeLabel(provider)}"`, latencyBuckets), latencyBuckets, seconds);
      health?.latency(provider, seconds);
    },
    upstreamOutcome(provider, status, outcome) {
      if (isFailure(status, outcome)) {
        add(upstreamErrors, `provider="${escapeLabel(provider)}",outcome="${escapeLabel(outcome)}",status="${status}"`, 1);
      }
      health?.outcome(provider, status, outcome);
    },
    tokens: (model, kind, count) => {
      if (count > 0) add(tokens, tokenKeysFor(model)[kind], count);
    },
    cost: (model, amount) => {
      if (amount <= 0n) return;
      let key = costKeys.get(model);
      if (key === undefined) {
        key = `model="${escapeLabel(model)}"`;
        if (costKeys.size < 10_000) costKeys.set(model, key);
      }
      cost.set(key, (cost.get(key) ?? 0n) + amount);
    },
    setGauge: (name, value, help) => gauges.set(name, { value, help }),
    render() {
      const lines: string[] = [];
      const counter = (name: string, help: string, map: Map<string, number | Money>) => {
        lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
        for (const [labels, value] of map) lines.push(`${name}{${labels}} ${typeof value === 'bigint' ? formatUsd(value) : value}`);
      };
      const histogram = (name: string, help: string, bounds: readonly number[], hs: Iterable<Histogram>) => {
        lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
        for (const h of hs) {
          const sep = h.labels ? ',' : '';
          let cumulative = 0;
          for (const [i, bound] of bounds.entries()) {
            cumulative += h.buckets[i]!;
            lines.push(`${name}_bucket{${h.labels}${sep}le="${bound}"} ${cumulative}`);
          }
          lines.push(`${name}_bucket{${h.labels}${sep}le="+Inf"} ${h.count}`);
          lines.push(`${name}_sum${h.labels ? `{${h.labels}}` : ''} ${h.sum}`);
          lines.push(`${name}_count${h.labels ? `{${h.labels}}` : ''} ${h.count}`);
        }
      };
      counter('codevector_gateway_requests_total', 'Requests answered, by surface and HTTP status.', requests);
      counter('codevector_gateway_rejections_total', 'Requests refused by a policy, by reason.', rejections);
      counter('codevector_gateway_tokens_total', 'Tokens reported by providers, by model and kind.', tokens);
      counter('codevector_gateway_cost_usd_total', 'Cost in USD at model prices, by model.', cost);
      counter(
        'codevector_gateway_upstream_fallbacks_total',
        'Upstream attempts that failed before their first byte and went to the next upstream, by model, failed provider and status (0: unreachable).',
        fallbacks,
      );
      counter(
        'codevector_gateway_upstream_errors_total',
        'Upstream attempts that failed (unreachable, timed out, 429, 5xx, or 401/403 for the Provider key), by provider, outcome and status (0: unreachable).',
        upstreamErrors,
      );
      counter(
        'codevector_gateway_translated_requests_total',
        "Upstream attempts sent in another API than the client's, by the client's and the upstream's API.",
        translations,
      );
      histogram(
        'codevector_gateway_request_duration_seconds',
        'Admitted requests from arrival to the last byte of the response (streams included), by surface.',
        latencyBuckets,
        durations.values(),
      );
      histogram('codevector_gateway_upstream_latency_seconds', 'Time to upstream response headers.', latencyBuckets, latency.values());
      histogram('codevector_gateway_secret_scan_seconds', 'Secret scanning time per request body.', scanBuckets, [scan]);
      for (const [name, { value, help }] of gauges) {
        if (help) lines.push(`# HELP ${name} ${help}`);
        lines.push(`# TYPE ${name} ${name.endsWith('_total') ? 'counter' : 'gauge'}`, `${name} ${value}`);
      }
      return `${lines.join('\n')}\n`;
    },
  };
}
