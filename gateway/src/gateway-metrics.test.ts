import { parseUsd } from '@codevector/core/money';
import { describe, expect, it } from 'vitest';
import { createGatewayMetrics } from './gateway-metrics.ts';

describe('gateway metrics', () => {
  it('renders cumulative histograms, exact cost and counters in the Prometheus text format', () => {
    const metrics = createGatewayMetrics();
    metrics.requestDuration('messages', 0.02);
    metrics.requestDuration('messages', 3);
    metrics.scanDuration(0.0003);
    metrics.cost('claude-sonnet-5', parseUsd('0.1'));
    metrics.cost('claude-sonnet-5', parseUsd('0.2'));
    metrics.upstreamOutcome('team/anthropic', 503, 'upstream_error');
    metrics.upstreamOutcome('team/anthropic', 400, 'upstream_error');
    metrics.upstreamOutcome('team/anthropic', 200, 'ok');
    metrics.setGauge('codevector_gateway_budget_syncs_total', 7, 'Exchanges.');
    metrics.setGauge('codevector_gateway_inflight_requests', 2);
    const text = metrics.render();
    expect(text).toContain('codevector_gateway_request_duration_seconds_bucket{surface="messages",le="0.01"} 0');
    expect(text).toContain('codevector_gateway_request_duration_seconds_bucket{surface="messages",le="0.025"} 1');
    expect(text).toContain('codevector_gateway_request_duration_seconds_bucket{surface="messages",le="5"} 2');
    expect(text).toContain('codevector_gateway_request_duration_seconds_bucket{surface="messages",le="+Inf"} 2');
    expect(text).toContain('codevector_gateway_request_duration_seconds_count{surface="messages"} 2');
    expect(text).toContain('codevector_gateway_secret_scan_seconds_bucket{le="0.0005"} 1');
    expect(text).toContain('codevector_gateway_secret_scan_seconds_count 1');
    expect(text).toContain('codevector_gateway_cost_usd_total{model="claude-sonnet-5"} 0.3');
    // Only the upstream's own failures; a client's 400 is not one.
    expect(text).toContain('codevector_gateway_upstream_errors_total{provider="team/anthropic",outcome="upstream_error",status="503"} 1');
    expect(text).not.toContain('status="400"');
    expect(text).toContain('# TYPE codevector_gateway_budget_syncs_total counter');
    expect(text).toContain('# TYPE codevector_gateway_inflight_requests gauge');
    for (const line of text.trim().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) \S+ .+|[a-z_]+(\{[^}]*\})? -?[0-9.e+-]+)$/);
  });

  it('hands upstream answers to provider health', () => {
    const seen: string[] = [];
    const metrics = createGatewayMetrics({
      providerHealth: {
        outcome: (ref, status, outcome) => seen.push(`${ref} ${status} ${outcome}`),
        latency: (ref, seconds) => seen.push(`${ref} ${seconds}s`),
        close: async () => {},
      },
    });
    metrics.upstreamLatency('team/openai', 0.5);
    metrics.upstreamOutcome('team/openai', 0, 'fallback');
    expect(seen).toEqual(['team/openai 0.5s', 'team/openai 0 fallback']);
  });
});
