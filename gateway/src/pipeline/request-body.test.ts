import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type BodyLimits, decodeBody, defaultBodyLimits, inspectJson, parseRequestBody, readBody } from './request-body.ts';

const body = Buffer.from(JSON.stringify({ model: 'claude-sonnet-5', messages: [{ role: 'user', content: 'hi' }] }));
const limits: BodyLimits = { ...defaultBodyLimits, maxBytes: 1024 * 1024, maxDecodedBytes: 4 * 1024 * 1024, timeoutMs: 2000 };

const encoders: Record<string, (b: Buffer) => Buffer> = {
  identity: (b) => b,
  gzip: (b) => zlib.gzipSync(b),
  deflate: (b) => zlib.deflateSync(b),
  br: (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } }),
  zstd: (b) => zlib.zstdCompressSync(b),
};

describe('readBody', () => {
  it.each(Object.keys(encoders))('decodes %s while streaming and keeps the raw bytes', async (encoding) => {
    const raw = encoders[encoding]!(body);
    const read = await readBody(Readable.from([raw.subarray(0, 5), raw.subarray(5)]), encoding, limits);
    expect(read.refused).toBe(false);
    if (!read.refused) {
      expect(read.plain.equals(body)).toBe(true);
      expect(read.raw.equals(raw)).toBe(true);
    }
  });
  it.each(['gzip', 'deflate', 'br', 'zstd'])('stops a %s bomb at the ratio limit without inflating it', async (encoding) => {
    const bomb = encoders[encoding]!(Buffer.alloc(64 * 1024 * 1024, 0x20));
    const before = process.memoryUsage().rss;
    const read = await readBody(Readable.from([bomb]), encoding, { ...limits, maxDecodedBytes: 1024 * 1024 * 1024 });
    expect(read).toMatchObject({ refused: true, code: 'GW_BODY_TOO_LARGE', reason: 'ratio' });
    expect(process.memoryUsage().rss - before).toBeLessThan(16 * 1024 * 1024);
  });
  it('refuses a body decoded past the decoded limit even at a modest ratio', async () => {
    const random = Buffer.from(Array.from({ length: 6 * 1024 * 1024 }, (_, i) => 97 + ((i * 7919) % 26)));
    const read = await readBody(Readable.from([zlib.gzipSync(random)]), 'gzip', { ...limits, maxBytes: 8 * 1024 * 1024, maxRatio: 1000 });
    expect(read).toMatchObject({ refused: true, code: 'GW_BODY_TOO_LARGE', reason: 'decoded' });
  });
  it('refuses too many bytes sent, an unknown encoding, bad compressed data and a stalled body', async () => {
    expect(await readBody(Readable.from([Buffer.alloc(2 * 1024 * 1024)]), undefined, limits)).toMatchObject({ reason: 'size' });
    expect(await readBody(Readable.from([body]), 'lz4', limits)).toMatchObject({ code: 'GW_UNSUPPORTED_ENCODING' });
    expect(await readBody(Readable.from([Buffer.from('not gzip')]), 'gzip', limits)).toMatchObject({
      code: 'GW_BAD_REQUEST',
      reason: 'encoding',
    });
    const stalled = new Readable({ read() {} });
    stalled.push(body.subarray(0, 10));
    expect(await readBody(stalled, undefined, { ...limits, timeoutMs: 50 })).toMatchObject({ code: 'GW_REQUEST_TIMEOUT' });
  });
});

describe('parseRequestBody', () => {
  it('keeps the model and the decoded bytes', () => {
    expect(parseRequestBody(body)).toMatchObject({ model: 'claude-sonnet-5', body: { model: 'claude-sonnet-5' } });
  });
  it('refuses what is not a JSON object with a model', () => {
    expect(parseRequestBody(Buffer.from('[1]'))).toMatchObject({ error: 'The request body must be a JSON object.' });
    expect(parseRequestBody(Buffer.from('{"model":'))).toMatchObject({ error: 'The request body must be a JSON object.' });
    expect(parseRequestBody(Buffer.from('{"model":""}'))).toMatchObject({ error: 'The request has no "model".' });
  });
  it('refuses nesting past the depth limit before parsing', () => {
    const deep = Buffer.from(`{"model":"m","x":${'['.repeat(200)}${']'.repeat(200)}}`);
    expect(parseRequestBody(deep, 128)).toMatchObject({ reason: 'too_deep' });
    expect(parseRequestBody(deep, 256)).toMatchObject({ model: 'm' });
    // Brackets inside strings are text, not nesting.
    expect(parseRequestBody(Buffer.from(`{"model":"m","x":"${'['.repeat(500)}"}`), 128)).toMatchObject({ model: 'm' });
  });
  it('refuses a key repeated in one object, however it is escaped, and only in one object', () => {
    expect(inspectJson(Buffer.from('{"model":"m","messages":[],"messages":[]}'), 128)).toMatchObject({ reason: 'duplicate_key' });
    expect(inspectJson(Buffer.from('{"model":"m","\\u006dodel":"x"}'), 128)).toMatchObject({ reason: 'duplicate_key' });
    expect(inspectJson(Buffer.from('{"a":{"b":1},"c":{"b":2},"d":[{"b":1},{"b":2}]}'), 128)).toBeNull();
    expect(inspectJson(Buffer.from('{"a":"x\\"b","b":"\\\\","c":1}'), 128)).toBeNull();
  });
  it('names an unknown encoding', () => {
    expect(() => decodeBody(body, 'lz4')).toThrow(/unsupported content-encoding lz4/);
  });
});
