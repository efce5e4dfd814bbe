import { describe, expect, it } from 'vitest';
import { retryHints } from './refuse.ts';

// What each client needs to stop at once and show the gateway's message (docs/clients.md); the
// CLIs themselves are driven by `npm run test:agents`.
const claudeCode = { 'user-agent': 'claude-cli/2.1.332 (external, cli)' };
const codex = { originator: 'codex_exec', 'user-agent': 'codex_exec/0.169.0' };
const sdk = { 'user-agent': 'Anthropic/JS 1.14.0' };

describe('retryHints', () => {
  it.each([
    ['a revoked key, SDK', 'GW_KEY_REVOKED', sdk, {}, 401, 'false'],
    ['a revoked key, Codex', 'GW_KEY_REVOKED', codex, {}, 400, 'false'],
    ['an unknown model, SDK (404 as the APIs answer)', 'GW_MODEL_NOT_FOUND', sdk, {}, 404, 'false'],
    ['an unknown model, Claude Code (it hides a 404 behind its own text)', 'GW_MODEL_NOT_FOUND', claudeCode, {}, 400, 'false'],
    ['a short rate-limit wait, Codex retries', 'GW_RATE_LIMITED', codex, { 'retry-after': '2' }, 429, undefined],
    ['a long rate-limit wait, Codex stops with our message', 'GW_RATE_LIMITED', codex, { 'retry-after': '45' }, 400, 'false'],
    ['a long rate-limit wait, Claude Code waits as told', 'GW_RATE_LIMITED', claudeCode, { 'retry-after': '45' }, 429, undefined],
  ] as const)('%s', (_name, code, request, headers, status, shouldRetry) => {
    const hints = retryHints(code, request, headers);
    expect(hints.status).toBe(status);
    expect(hints.headers['x-should-retry']).toBe(shouldRetry);
  });
});
