import { hash } from 'node:crypto';

/**
 * A request body as byte ranges (ADR 0117): where each top-level value, and each element of a
 * top-level array (`messages`, `input`, `tools`, `system`), sits in the decoded bytes. An agent
 * resends its whole conversation every turn, earlier turns byte for byte, so the gateway hashes
 * those elements instead of parsing and scanning them again: a block seen before is already
 * known to be valid JSON, and its scanner knows whether it was clean.
 */
export type RequestBlock = {
  /** Where the block is in the body, as the scanner reports paths: `['messages', 3]`. */
  path: (string | number)[];
  start: number;
  end: number;
  /** A content hash of the block's bytes (SHA-1, base64): equal bytes, equal hash. */
  hash: string;
};

export type TopLevelValue = { start: number; end: number; elements: { start: number; end: number }[] | null };

/** The body's top level: each key's value range, and element ranges for array values. */
export type TopLevelIndex = Map<string, TopLevelValue>;

/** Values at least this long are read lazily and hashed as blocks; shorter ones are parsed at once. */
export const blockMinBytes = 1024;

const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

/** The index just past the string that opens at `start` (a `"`), or -1 when it never closes. */
function stringEnd(bytes: Buffer, start: number): number {
  let end = bytes.indexOf(34, start + 1);
  for (;;) {
    if (end < 0) return -1;
    let slashes = 0;
    for (let j = end - 1; j > start && bytes[j] === 92; j--) slashes++;
    if (slashes % 2 === 0) return end + 1;
    end = bytes.indexOf(34, end + 1);
  }
}

/** Skips one value from `i` (not past `n`): strings with indexOf, containers by depth. */
function valueEnd(bytes: Buffer, i: number, stopAt: (c: number) => boolean): number {
  let depth = 0;
  const n = bytes.length;
  while (i < n) {
    const c = bytes[i]!;
    if (c === 34) {
      const end = stringEnd(bytes, i);
      if (end < 0) return -1;
      i = end;
      continue;
    }
    if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) {
      if (depth === 0) return stopAt(c) ? i : -1;
      depth--;
    } else if (c === 44 && depth === 0) return i;
    i++;
  }
  return -1;
}

/**
 * The top level of a JSON object body, checked for structure (a string key, `:`, a value, then `,`
 * or the end; nothing after the object). Values themselves are not validated here: the caller
 * parses each one, or knows its bytes from before. Null when the bytes are not a JSON object.
 */
export function indexTopLevel(bytes: Buffer): TopLevelIndex | null {
  const n = bytes.length;
  let i = 0;
  while (i < n && isSpace(bytes[i]!)) i++;
  if (bytes[i] !== 123) return null;
  i++;
  const index: TopLevelIndex = new Map();
  const skip = () => {
    while (i < n && isSpace(bytes[i]!)) i++;
  };
  skip();
  if (bytes[i] === 125) i++;
  else {
    for (;;) {
      skip();
      if (bytes[i] !== 34) return null;
      const keyEnd = stringEnd(bytes, i);
      if (keyEnd < 0) return null;
      const rawKey = bytes.toString('utf8', i, keyEnd);
      let key: string;
      try {
        key = rawKey.includes('\\') ? (JSON.parse(rawKey) as string) : rawKey.slice(1, -1);
      } catch {
        return null;
      }
      i = keyEnd;
      skip();
      if (bytes[i] !== 58) return null;
      i++;
      skip();
      const start = i;
      let elements: TopLevelValue['elements'] = null;
      if (bytes[i] === 91) {
        // An array: its elements' ranges, trimmed, each a future block.
        elements = [];
        i++;
        skip();
        if (bytes[i] === 93) i++;
        else {
          for (;;) {
            skip();
            const elementStart = i;
            const end = valueEnd(bytes, i, (c) => c === 93);
            if (end < 0) return null;
            let trimmed = end;
            while (trimmed > elementStart && isSpace(bytes[trimmed - 1]!)) trimmed--;
            if (trimmed === elementStart) return null;
            elements.push({ start: elementStart, end: trimmed });
            i = end + 1;
            if (bytes[end] === 93) break;
          }
        }
        index.set(key, { start, end: i, elements });
        skip();
      } else {
        const end = valueEnd(bytes, i, (c) => c === 125);
        if (end < 0) return null;
        let trimmed = end;
        while (trimmed > start && isSpace(bytes[trimmed - 1]!)) trimmed--;
        if (trimmed === start) return null;
        index.set(key, { start, end: trimmed, elements: null });
        i = end;
      }
      if (bytes[i] === 44) {
        i++;
        continue;
      }
      if (bytes[i] === 125) {
        i++;
        break;
      }
      return null;
    }
  }
  skip();
  return i === n ? index : null;
}

/** Hash of a block's bytes; the key of every block cache (validity here, cleanliness in the scanner). */
export function blockHash(bytes: Buffer, start: number, end: number): string {
  return hash('sha1', bytes.subarray(start, end), 'base64');
}

/**
 * Block hashes whose bytes parsed before: valid JSON, whatever they are. Bounded; the oldest
 * entries go first. Per process, shared by every request (and every tenant: validity is a fact
 * about bytes, not about anyone's rules).
 */
const validBlocks = new Map<string, true>();
const validBlocksMax = 50_000;

function rememberValid(key: string): void {
  if (validBlocks.size >= validBlocksMax) {
    const oldest = validBlocks.keys().next().value;
    if (oldest !== undefined) validBlocks.delete(oldest);
  }
  validBlocks.set(key, true);
}

/** Parses a JSON slice; undefined when it is not JSON. */
function parseSlice(bytes: Buffer, start: number, end: number): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(bytes.toString('utf8', start, end)) };
  } catch {
    return undefined;
  }
}

export type RequestDocument = {
  body: Record<string, unknown>;
  blocks: RequestBlock[];
  index: TopLevelIndex;
};

/**
 * The body object without parsing what was seen before: short top-level values are parsed now;
 * long ones (and each element of a long array) are hashed, parsed now only when their bytes are
 * new (to refuse bad JSON before anything runs), and otherwise parsed on first access through a
 * getter. Whoever reads `body.messages` gets the array as JSON.parse would have built it.
 * Null when some value is not JSON.
 */
export function readDocument(bytes: Buffer, index: TopLevelIndex): RequestDocument | null {
  const body: Record<string, unknown> = {};
  const blocks: RequestBlock[] = [];
  for (const [key, value] of index) {
    if (value.end - value.start < blockMinBytes) {
      const parsed = parseSlice(bytes, value.start, value.end);
      if (!parsed) return null;
      body[key] = parsed.value;
      continue;
    }
    const parts = value.elements ?? [{ start: value.start, end: value.end }];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const key_ = blockHash(bytes, part.start, part.end);
      if (!validBlocks.has(key_)) {
        if (!parseSlice(bytes, part.start, part.end)) return null;
        rememberValid(key_);
      }
      blocks.push({ path: value.elements ? [key, i] : [key], start: part.start, end: part.end, hash: key_ });
    }
    // The value as a whole, on first use (redaction, translation, a cut request's input count).
    Object.defineProperty(body, key, {
      configurable: true,
      enumerable: true,
      get() {
        const parsed = JSON.parse(bytes.toString('utf8', value.start, value.end)) as unknown;
        Object.defineProperty(body, key, { configurable: true, enumerable: true, writable: true, value: parsed });
        return parsed;
      },
      set(next: unknown) {
        Object.defineProperty(body, key, { configurable: true, enumerable: true, writable: true, value: next });
      },
    });
  }
  return { body, blocks, index };
}

/**
 * The body with some top-level values replaced or added, spliced into the client's bytes: the
 * rest goes upstream exactly as sent, without parsing or re-serialising the conversation.
 */
export function spliceTopLevel(bytes: Buffer, index: TopLevelIndex, changes: Record<string, unknown>): Buffer {
  const edits = Object.entries(changes)
    .filter(([key]) => index.has(key))
    .map(([key, value]) => ({ ...index.get(key)!, text: JSON.stringify(value) }))
    .sort((a, b) => a.start - b.start);
  const added = Object.entries(changes).filter(([key]) => !index.has(key));
  const parts: Buffer[] = [];
  let at = 0;
  for (const edit of edits) {
    parts.push(bytes.subarray(at, edit.start), Buffer.from(edit.text));
    at = edit.end;
  }
  if (added.length > 0) {
    const close = bytes.lastIndexOf(125);
    parts.push(bytes.subarray(at, close));
    const tail = added.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(',');
    parts.push(Buffer.from(`${index.size > 0 ? ',' : ''}${tail}`), bytes.subarray(close));
  } else parts.push(bytes.subarray(at));
  return Buffer.concat(parts);
}
