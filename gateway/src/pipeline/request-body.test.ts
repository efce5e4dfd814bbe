import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeBody, parseRequestBody } from './request-body.ts';

const body = Buffer.from(JSON.stringify({ model: 'claude-sonnet-5', messages: [{ role: 'user', content: 'hi' }] }));

describe('parseRequestBody', () => {
  it.each([
    ['identity', body],
    ['gzip', zlib.gzipSync(body)],
    ['deflate', zlib.deflateSync(body)],
    ['br', zlib.brotliCompressSync(body)],
    ['zstd', zlib.zstdCompressSync(body)],
  ])('decodes %s once and keeps the model', (encoding, raw) => {
    const parsed = parseRequestBody(raw, encoding);
    expect(parsed).toMatchObject({ model: 'claude-sonnet-5', body: { model: 'claude-sonnet-5' } });
    expect('plain' in parsed && parsed.plain.equals(body)).toBe(true);
  });
  it('refuses what is not a JSON object with a model', () => {
    expect(parseRequestBody(Buffer.from('[1]'), undefined)).toEqual({ error: 'The request body must be a JSON object.' });
    expect(parseRequestBody(Buffer.from('{"model":'), undefined)).toEqual({ error: 'The request body must be a JSON object.' });
    expect(parseRequestBody(Buffer.from('{"model":""}'), undefined)).toEqual({ error: 'The request has no "model".' });
    expect(parseRequestBody(body, 'compress')).toEqual({ error: 'The request body must be a JSON object.' });
    expect(parseRequestBody(Buffer.from('not gzip'), 'gzip')).toEqual({ error: 'The request body must be a JSON object.' });
  });
  it('names an unknown encoding', () => {
    expect(() => decodeBody(body, 'lz4')).toThrow(/unsupported content-encoding lz4/);
  });
});
