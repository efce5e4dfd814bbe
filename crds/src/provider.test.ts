import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { providerSpecSchema } from './provider.ts';

const valid = { type: 'anthropic', baseURL: 'https://api.anthropic.com', apiKeySecretRef: { name: 'anthropic-api-key', key: 'api-key' } };

describe('providerSpecSchema', () => {
  it('defaults the timeout to 600 seconds', () => {
    expect(providerSpecSchema.parse(valid).timeoutSeconds).toBe(600);
  });

  it('accepts http and https base URLs with a host, including in-cluster services with a port', () => {
    for (const baseURL of ['https://api.openai.com', 'http://vllm.inference.svc:8000', 'https://gateway.example.com/openai']) {
      expect(providerSpecSchema.safeParse({ ...valid, baseURL }).success, baseURL).toBe(true);
    }
  });

  it('rejects base URLs without an http(s) scheme and host', () => {
    for (const baseURL of ['api.anthropic.com', 'ftp://example.com', 'https://', '/v1']) {
      const result = providerSpecSchema.safeParse({ ...valid, baseURL });
      expect(result.error?.issues, baseURL).toMatchObject([
        { path: ['baseURL'], message: 'baseURL must be an absolute http or https URL, e.g. https://api.anthropic.com' },
      ]);
    }
  });

  it('refuses headers the gateway owns, in any letter case, and malformed header names', () => {
    const reserved = providerSpecSchema.safeParse({ ...valid, headers: { 'X-Api-Key': 'k' } });
    expect(reserved.error?.issues[0]?.message).toMatch(/^headers must not set authorization, x-api-key/);
    const malformed = providerSpecSchema.safeParse({ ...valid, headers: { 'bad header': 'v' } });
    expect(malformed.error?.issues[0]?.message).toBe('header names may contain only letters, digits and hyphens');
    expect(providerSpecSchema.safeParse({ ...valid, headers: { 'anthropic-beta': 'context-1m-2025-08-07' } }).success).toBe(true);
  });

  it('lists every problem at once with its path', () => {
    const result = providerSpecSchema.safeParse({ type: 'azure', baseURL: 'x', apiKeySecretRef: { name: 'Upper', key: 'k' }, timeout: 5 });
    expect(z.prettifyError(result.error!)).toMatchInlineSnapshot(`
      "✖ Unrecognized key: "timeout"
      ✖ Invalid option: expected one of "anthropic"|"openai"|"openai-compatible"
        → at type
      ✖ baseURL must be an absolute http or https URL, e.g. https://api.anthropic.com
        → at baseURL
      ✖ must be a valid Secret name (lowercase DNS subdomain)
        → at apiKeySecretRef.name"
    `);
  });
});
