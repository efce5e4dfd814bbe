import zlib from 'node:zlib';

/** The body as the upstream will read it: decompressed per `content-encoding`. @throws on a bad or unknown encoding. */
export function decodeBody(raw: Buffer, encoding: string | undefined): Buffer {
  switch (encoding?.toLowerCase()) {
    case undefined:
    case '':
    case 'identity':
      return raw;
    case 'gzip':
    case 'x-gzip':
      return zlib.gunzipSync(raw);
    case 'deflate':
      return zlib.inflateSync(raw);
    case 'br':
      return zlib.brotliDecompressSync(raw);
    case 'zstd':
      return zlib.zstdDecompressSync(raw);
    default:
      throw new Error(`unsupported content-encoding ${encoding}`);
  }
}

/** A streaming decompressor for an upstream response's `content-encoding`, or null for none. */
export function decompressorFor(
  encoding: string | undefined,
): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | zlib.ZstdDecompress | null {
  switch (encoding?.toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    case 'zstd':
      return zlib.createZstdDecompress();
    default:
      return null;
  }
}

export type ParsedBody = { plain: Buffer; body: Record<string, unknown>; model: string };

/**
 * Decodes once and parses once: gzip bodies are scanned decompressed and forwarded as they came
 * (ADR 0110). Returns the refusal message when the body is not a JSON object with a model.
 */
export function parseRequestBody(raw: Buffer, encoding: string | undefined): ParsedBody | { error: string } {
  let plain: Buffer;
  let body: Record<string, unknown>;
  try {
    plain = decodeBody(raw, encoding);
    const parsed: unknown = JSON.parse(plain.toString('utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    body = parsed as Record<string, unknown>;
  } catch {
    return { error: 'The request body must be a JSON object.' };
  }
  const model = body['model'];
  if (typeof model !== 'string' || !model) return { error: 'The request has no "model".' };
  return { plain, body, model };
}
