import { formatUsd, type Money } from '@codevector/core/money';

/**
 * Prometheus metrics, hand-rolled: the request path only increments numbers in maps, and the
 * text format is built when /metrics is scraped (prom-client's label handling costs more per
 * request than the gateway's whole CPU budget allows for metrics).
 */
export type GatewayMetrics = {
  request(surface: string, status: number): void;
  rejection(reason: string): void;
  upstreamLatency(provider: string, seconds: number): void;
  /** An upstream attempt that failed before its first byte and was passed to the next upstream. */
  fallback(model: string, provider: string, status: number): void;
  /** An upstream attempt sent in another API than the client's (ADR 0124), e.g. `anthropic` → `openai-chat`. */
  translated(from: string, to: string): void;
  tokens(model: string, kind: 'input' | 'output' | 'cache_read' | 'cache_write', count: number): void;
  /** Exact cost (picodollars); the sum stays exact and is rendered as a decimal. */
  cost(model: string, amount: Money): void;
  setGauge(name: string, value: number): void;
  render(): string;
};

const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export function createGatewayMetrics(): GatewayMetrics {
  const requests = new Map<string, number>();
  const rejections = new Map<string, number>();
  const tokens = new Map<string, number>();
  const cost = new Map<string, Money>();
  const gauges = new Map<string, number>();
  const fallbacks = new Map<string, number>();
  const translations = new Map<string, number>();
  const latency = new Map<string, { labels: string; buckets: number[]; sum: number; count: number }>();
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
    rejection: (reason) => add(rejections, `reason="${escapeLabel(reason)}"`, 1),
    // Rare (a provider failing), so the key is built per call.
    translated: (from, to) => add(translations, `from="${escapeLabel(from)}",to="${escapeLabel(to)}"`, 1),
    fallback: (model, provider, status) =>
      add(fallbacks, `model="${escapeLabel(model)}",provider="${escapeLabel(provider)}",status="${status}"`, 1),
    upstreamLatency(provider, seconds) {
      let h = latency.get(provider);
      if (!h) {
        h = { labels: `provider="${escapeLabel(provider)}"`, buckets: latencyBuckets.map(() => 0), sum: 0, count: 0 };
        latency.set(provider, h);
      }
      for (let i = 0; i < latencyBuckets.length; i++) if (seconds <= latencyBuckets[i]!) h.buckets[i]!++;
      h.sum += seconds;
      h.count++;
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
    setGauge: (name, value) => gauges.set(name, value),
    render() {
      const lines: string[] = [];
      const counter = (name: string, help: string, map: Map<string, number | Money>) => {
        lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
        for (const [labels, value] of map) lines.push(`${name}{${labels}} ${typeof value === 'bigint' ? formatUsd(value) : value}`);
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
        'codevector_gateway_translated_requests_total',
        "Upstream attempts sent in another API than the client's, by the client's and the upstream's API.",
        translations,
      );
      lines.push('# HELP codevector_gateway_upstream_latency_seconds Time to upstream response headers.');
      lines.push('# TYPE codevector_gateway_upstream_latency_seconds histogram');
      for (const { labels, ...h } of latency.values()) {
        for (const [i, bound] of latencyBuckets.entries()) {
          lines.push(`codevector_gateway_upstream_latency_seconds_bucket{${labels},le="${bound}"} ${h.buckets[i]}`);
        }
        lines.push(`codevector_gateway_upstream_latency_seconds_bucket{${labels},le="+Inf"} ${h.count}`);
        lines.push(`codevector_gateway_upstream_latency_seconds_sum{${labels}} ${h.sum}`);
        lines.push(`codevector_gateway_upstream_latency_seconds_count{${labels}} ${h.count}`);
      }
      for (const [name, value] of gauges) lines.push(`# TYPE ${name} gauge`, `${name} ${value}`);
      return `${lines.join('\n')}\n`;
    },
  };
}
