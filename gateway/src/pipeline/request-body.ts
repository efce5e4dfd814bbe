import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { ErrorCode } from '@codevector/core/errors';
import { clip } from '../clip.ts';
import {
  indexTopLevel,
  knownBlocks,
  newIndexTrace,
  type RequestBlock,
  readDocument,
  rememberTurn,
  resumeTurn,
  type TopLevelIndex,
} from './request-document.ts';

/**
 * The body as the upstream will read it, decompressed per `content-encoding`, at most
 * `maxOutputLength` bytes (used for upstream answers, which the gateway reads whole).
 * @throws on a bad or unknown encoding, or output past the limit.
 */
export function decodeBody(raw: Buffer, encoding: string | undefined, maxOutputLength = 256 * 1024 * 1024): Buffer {
  switch (encoding?.toLowerCase()) {
    case undefined:
    case '':
    case 'identity':
      return raw;
    case 'gzip':
    case 'x-gzip':
      return zlib.gunzipSync(raw, { maxOutputLength });
    case 'deflate':
      return zlib.inflateSync(raw, { maxOutputLength });
    case 'br':
      return zlib.brotliDecompressSync(raw, { maxOutputLength });
    case 'zstd':
      return zlib.zstdDecompressSync(raw, { maxOutputLength });
    default:
      throw new Error(`unsupported content-encoding ${encoding}`);
  }
}

type Decompressor = zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | zlib.ZstdDecompress;

/** A streaming decompressor for a `content-encoding`, or null for none. */
export function decompressorFor(encoding: string | undefined): Decompressor | null {
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

const knownEncodings = new Set(['', 'identity', 'gzip', 'x-gzip', 'deflate', 'br', 'zstd']);

/** What one route accepts (ADR 0113). */
export type BodyLimits = {
  /** Bytes on the wire (compressed or not). */
  maxBytes: number;
  /** Bytes after decompression. */
  maxDecodedBytes: number;
  /** Decoded/wire ratio refused once the decoded body passes `ratioFloorBytes`. */
  maxRatio: number;
  ratioFloorBytes: number;
  /** Nesting depth of objects and arrays. */
  maxDepth: number;
  /** From the end of the headers to the last body byte. */
  timeoutMs: number;
};

export const defaultBodyLimits: BodyLimits = {
  maxBytes: 32 * 1024 * 1024,
  maxDecodedBytes: 32 * 1024 * 1024,
  maxRatio: 50,
  ratioFloorBytes: 1024 * 1024,
  maxDepth: 128,
  timeoutMs: 30_000,
};

/** A body refused before it was parsed; `reason` is a fixed word for the audit event and metrics. */
export type BodyRefusal = { refused: true; code: ErrorCode; message: string; reason: string };
export type ReadBody = { refused: false; raw: Buffer; plain: Buffer };

const refused = (code: ErrorCode, reason: string, message: string): BodyRefusal => ({ refused: true, code, message, reason });

/**
 * Reads a request body within `limits`, decompressing while it arrives: the wire size, the
 * decoded size and the decoded/wire ratio are checked on every chunk, so a compression bomb is
 * stopped after at most one decompressor chunk past the limit, never inflated whole; a body not
 * complete within `timeoutMs` is refused (a slow client cannot hold the request open). Keeps the
 * raw bytes (what goes upstream, ADR 0110) and the decoded ones (what the scan reads).
 */
export function readBody(source: Readable, encoding: string | undefined, limits: BodyLimits): Promise<ReadBody | BodyRefusal> {
  const name = (encoding ?? '').trim().toLowerCase();
  if (!knownEncodings.has(name)) {
    source.resume();
    return Promise.resolve(refused('GW_UNSUPPORTED_ENCODING', 'encoding', `Unsupported content-encoding "${clip(name, 40)}".`));
  }
  const decoder = decompressorFor(name);
  return new Promise((resolve) => {
    const raw: Buffer[] = [];
    const plain: Buffer[] = [];
    let rawSize = 0;
    let plainSize = 0;
    let ended = false;
    let done = false;
    const finish = (result: ReadBody | BodyRefusal) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('close', onClose);
      if (result.refused) {
        // Whatever else the client sends is discarded, not buffered; the refusal closes the
        // connection.
        source.resume();
        decoder?.destroy();
        raw.length = 0;
        plain.length = 0;
      }
      resolve(result);
    };
    const timer = setTimeout(
      () => finish(refused('GW_REQUEST_TIMEOUT', 'body_timeout', `The request body did not arrive within ${limits.timeoutMs} ms.`)),
      limits.timeoutMs,
    );
    const tooLarge = (what: string, limit: number) =>
      finish(
        refused(
          'GW_BODY_TOO_LARGE',
          what,
          `The request body is larger than this route accepts (${limit} bytes ${what === 'size' ? 'sent' : 'decoded'}).`,
        ),
      );
    const onData = (chunk: Buffer) => {
      rawSize += chunk.length;
      if (rawSize > limits.maxBytes) return tooLarge('size', limits.maxBytes);
      raw.push(chunk);
      if (decoder) decoder.write(chunk);
    };
    const complete = () => {
      const rawBody = raw.length === 1 ? raw[0]! : Buffer.concat(raw, rawSize);
      finish({
        refused: false,
        raw: rawBody,
        plain: decoder ? (plain.length === 1 ? plain[0]! : Buffer.concat(plain, plainSize)) : rawBody,
      });
    };
    const onEnd = () => {
      ended = true;
      if (decoder) decoder.end();
      else complete();
    };
    const onClose = () => {
      if (!ended) finish(refused('GW_BAD_REQUEST', 'client_gone', 'The client closed the connection before the body was complete.'));
    };
    if (decoder) {
      decoder.on('data', (chunk: Buffer) => {
        if (done) return;
        plainSize += chunk.length;
        if (plainSize > limits.maxDecodedBytes) return tooLarge('decoded', limits.maxDecodedBytes);
        if (plainSize > limits.ratioFloorBytes && plainSize > limits.maxRatio * Math.max(rawSize, 1)) {
          return finish(
            refused(
              'GW_BODY_TOO_LARGE',
              'ratio',
              `The request body decompresses more than ${limits.maxRatio} times its size; refused as a compression bomb.`,
            ),
          );
        }
        plain.push(chunk);
      });
      decoder.on('error', () => finish(refused('GW_BAD_REQUEST', 'encoding', `The body is not valid ${name} data.`)));
      decoder.on('end', () => {
        if (!done) complete();
      });
    }
    source.on('data', onData);
    source.on('end', onEnd);
    source.on('close', onClose);
    source.on('error', onClose);
  });
}

export type ParsedBody = {
  plain: Buffer;
  /** The body as JSON.parse would build it; long values are parsed on first access (request-document.ts). */
  body: Record<string, unknown>;
  model: string;
  /** The long values' blocks, with content hashes: what the scanner may know already. */
  blocks: RequestBlock[];
  /** The top level's byte ranges, to splice a changed value into the client's bytes. */
  index: TopLevelIndex;
};

/**
 * Parses a decoded body once, after a structural pass that refuses nesting past `maxDepth` (so
 * no recursive walk downstream can overflow the stack) and duplicate keys in one object (the
 * scan reads the last value, as JSON.parse does; an upstream that kept the first would see what
 * the scan did not). Long values whose bytes were seen before are not parsed again (ADR 0117).
 * Returns the refusal message when the body is not a JSON object with a model.
 */
export function parseRequestBody(plain: Buffer, maxDepth = defaultBodyLimits.maxDepth): ParsedBody | { error: string; reason: string } {
  // The next turn of a conversation repeats the last one's bytes but for its newest messages:
  // both passes start where it departs, with the state they had there, and stop where the
  // repeated rest (system prompt, tools) begins (ADR 0117).
  const turn = resumeTurn(plain);
  const trace = newIndexTrace();
  const index = indexTopLevel(plain, turn?.resume, trace);
  const problem = inspectJson(
    plain,
    maxDepth,
    turn ? { at: turn.resume.checkpoint.at, topKeys: turn.topKeys } : undefined,
    index ? (trace.tailFrom ?? plain.length) : plain.length,
  );
  if (problem) return problem;
  const document = index ? readDocument(plain, index, turn ? knownBlocks(turn.resume, trace) : undefined) : null;
  if (!index || !document) return { error: 'The request body must be a JSON object.', reason: 'malformed_json' };
  const { body, blocks } = document;
  const model = body['model'];
  if (typeof model !== 'string' || !model) return { error: 'The request has no "model".', reason: 'no_model' };
  rememberTurn(plain, index, trace, blocks, turn?.resume);
  return { plain, body, model, blocks, index };
}

/**
 * One pass over JSON bytes: the deepest nesting and the first key repeated within one object.
 * Strings are skipped with indexOf (memchr), so a body of long strings costs little; keys are
 * decoded only to compare them (with JSON.parse when they hold escapes, so `"a"` and `"\u0061"`
 * are the same key, as for any JSON reader). Malformed JSON is left to JSON.parse.
 */
export function inspectJson(
  bytes: Buffer,
  maxDepth: number,
  from?: { at: number; topKeys: string[] },
  until = bytes.length,
): { error: string; reason: string } | null {
  // Resumed just past a `,` between elements of a top-level array: the top object (with the keys
  // it has so far) and the array are open, and no key is expected.
  const stack: (Set<string> | null)[] = from ? [new Set(from.topKeys), null] : [];
  let expectKey = false;
  const n = until;
  for (let i = from?.at ?? 0; i < n; i++) {
    const c = bytes[i]!;
    if (c === 34) {
      const start = i + 1;
      let end = bytes.indexOf(34, start);
      for (;;) {
        if (end < 0) return null; // unterminated: JSON.parse reports it
        let slashes = 0;
        for (let j = end - 1; j >= start && bytes[j] === 92; j--) slashes++;
        if (slashes % 2 === 0) break;
        end = bytes.indexOf(34, end + 1);
      }
      if (expectKey) {
        const keys = stack[stack.length - 1];
        if (keys) {
          const escaped = bytes.indexOf(92, start) >= 0 && bytes.indexOf(92, start) < end;
          let key: string;
          try {
            key = escaped ? (JSON.parse(bytes.toString('utf8', start - 1, end + 1)) as string) : bytes.toString('utf8', start, end);
          } catch {
            return null;
          }
          if (keys.has(key)) {
            return {
              error: `The request body repeats the key "${clip(key, 60)}" in one object; send each key once.`,
              reason: 'duplicate_key',
            };
          }
          keys.add(key);
        }
        expectKey = false;
      }
      i = end;
    } else if (c === 123 || c === 91) {
      stack.push(c === 123 ? new Set() : null);
      if (stack.length > maxDepth) return { error: `The request body nests deeper than ${maxDepth} levels.`, reason: 'too_deep' };
      expectKey = c === 123;
    } else if (c === 125 || c === 93) {
      stack.pop();
      expectKey = false;
    } else if (c === 44) {
      expectKey = stack.length > 0 && stack[stack.length - 1] !== null;
    }
  }
  return null;
}

/** Deepest nesting of a JSON text (strings skipped), stopping once past `max`. */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}
