import { type CommonQueryMethods, sql } from '@codevector/core/create-pool';
import { z } from 'zod';

const iso = (date: Date) => date.toISOString().replace(/\.\d+Z$/, 'Z');

/** Rows of replicas that pushed within this long count towards the last minute's figures. */
const liveReplicaMs = 30_000;

/**
 * A quantile of a histogram with upper bounds `bounds` (the last count is above every bound),
 * interpolated linearly inside its bucket as PromQL's histogram_quantile does; answers past the
 * last bound read as that bound. Null when the histogram is empty.
 */
export function histogramQuantile(q: number, bounds: readonly number[], counts: readonly number[]): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let cumulative = 0;
  for (let i = 0; i < counts.length; i++) {
    const count = counts[i]!;
    if (cumulative + count >= rank && count > 0) {
      if (i >= bounds.length) return bounds.at(-1) ?? null;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      return lower + (bounds[i]! - lower) * ((rank - cumulative) / count);
    }
    cumulative += count;
  }
  return bounds.at(-1) ?? null;
}

/**
 * What Provider status shows of the upstream: time to response headers (p50, p95) and attempts
 * of the last minute across every gateway replica, and the latest failure any replica saw. The
 * failure is the gateway's own words (status and outcome), never the upstream's body. Fields
 * with nothing to show are null, which the status patch removes.
 */
export async function providerHealth(db: CommonQueryMethods, providerRef: string, now: Date): Promise<Record<string, unknown>> {
  const rows = await db.any(sql.type(
    z.object({
      updated_at: z.date(),
      latency_bounds_ms: z.array(z.number()),
      latency_counts: z.array(z.coerce.number()),
      requests: z.coerce.number(),
      errors: z.coerce.number(),
      last_error_at: z.date().nullable(),
      last_error_status: z.number().nullable(),
      last_error_outcome: z.string().nullable(),
    }),
  )`
    select updated_at, latency_bounds_ms, latency_counts, requests, errors, last_error_at, last_error_status, last_error_outcome
    from gateway_provider_health where provider_ref = ${providerRef}`);
  const live = rows.filter((r) => now.getTime() - r.updated_at.getTime() < liveReplicaMs);
  const bounds = live[0]?.latency_bounds_ms ?? [];
  const counts = bounds.map(() => 0).concat(0);
  let requests = 0;
  let errors = 0;
  for (const row of live) {
    // Every replica of one release uses the same bounds; a row with others (a rolling upgrade
    // that changed them) is left out of the histogram rather than mixed in.
    if (row.latency_bounds_ms.join() === bounds.join()) {
      for (const [i, n] of row.latency_counts.entries()) counts[i]! += n;
    }
    requests += row.requests;
    errors += row.errors;
  }
  const last = rows.filter((r) => r.last_error_at !== null).sort((a, b) => b.last_error_at!.getTime() - a.last_error_at!.getTime())[0];
  const p50 = histogramQuantile(0.5, bounds, counts);
  const p95 = histogramQuantile(0.95, bounds, counts);
  return {
    latencyP50Ms: p50 === null ? null : Math.round(p50),
    latencyP95Ms: p95 === null ? null : Math.round(p95),
    requestsLastMinute: requests,
    errorsLastMinute: errors,
    lastError: last
      ? {
          at: iso(last.last_error_at!),
          status: last.last_error_status ?? 0,
          outcome: last.last_error_outcome ?? 'upstream_error',
          message: describeFailure(last.last_error_status ?? 0, last.last_error_outcome ?? 'upstream_error'),
        }
      : null,
  };
}

/** A short sentence for a failure, from fixed words only (nothing the upstream wrote). */
export function describeFailure(status: number, outcome: string): string {
  if (outcome === 'upstream_timeout') return 'The upstream did not answer in time.';
  if (status === 0) return 'The upstream could not be reached (connection refused, reset or DNS failure).';
  if (status === 401 || status === 403) return `The upstream refused the Provider's API key (HTTP ${status}).`;
  if (status === 429) return 'The upstream is rate limiting this Provider (HTTP 429).';
  if (outcome === 'fallback') return `The upstream failed before answering (HTTP ${status}); the request went to the next upstream.`;
  return `The upstream answered with HTTP ${status}.`;
}

/**
 * What RateLimit status shows: requests and tokens in the sliding minute (the buckets the gateways
 * enforce against, ADR 0111) of the busiest subject, and how many subjects used the limit. The
 * request count includes slots leased by replicas and not yet reported as used (at most one
 * lease per replica, returned within a second of going idle). Subjects are not named: for
 * eachUser limits they are people.
 */
export async function rateLimitUsage(db: CommonQueryMethods, limitUid: string, now: Date): Promise<Record<string, unknown>> {
  const row = await db.one(sql.type(z.object({ requests: z.coerce.number(), tokens: z.coerce.number(), subjects: z.coerce.number() }))`
    with per_subject as (
      select subject, sum(requests) as requests, sum(tokens) as tokens from gateway_rate_buckets
      where limit_uid = ${limitUid} and bucket_start > ${iso(now)}::timestamptz - interval '61 seconds'
      group by subject
    )
    select coalesce(max(requests), 0) as requests, coalesce(max(tokens), 0) as tokens,
           count(*) filter (where requests > 0 or tokens > 0) as subjects
    from per_subject`);
  return { requestsLastMinute: row.requests, tokensLastMinute: row.tokens, activeSubjects: row.subjects };
}
