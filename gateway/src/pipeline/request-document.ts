import { hash } from 'node:crypto';
import { createBoundedSet } from '../bounded-set.ts';

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
  /** The block's value, when this request already parsed it (new bytes are parsed to validate them). */
  parsed?: { value: unknown };
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
 * A point inside a top-level array, just past the `,` after one of its elements, where the index
 * of a body can be resumed: every byte before `at` decides the state there, so a body whose
 * first `at` bytes equal those of an earlier one is in the same state at `at` (ADR 0117, "the
 * next turn").
 */
export type IndexCheckpoint = { at: number; key: string; entries: number; elements: number };

/** Where to resume an index: an earlier turn of the conversation cut at one of its checkpoints. */
export type IndexResume = { earlier: Turn; checkpoint: IndexCheckpoint };

/**
 * What indexing a body learns besides the index, to resume the next turn: its checkpoints,
 * where each top-level array closed (just past the `]` and any space), and, when the part
 * after the resumed array repeated the earlier turn's byte for byte, where that part starts
 * (`tailFrom`) and how far it moved (`tailShift`).
 */
export type IndexTrace = {
  checkpoints: IndexCheckpoint[];
  closes: Map<string, number>;
  tailFrom: number | null;
  tailShift: number;
};

export const newIndexTrace = (): IndexTrace => ({ checkpoints: [], closes: new Map(), tailFrom: null, tailShift: 0 });

const shifted = (value: TopLevelValue, by: number): TopLevelValue => ({
  start: value.start + by,
  end: value.end + by,
  elements: value.elements?.map((e) => ({ start: e.start + by, end: e.end + by })) ?? null,
});

/**
 * The top level of a JSON object body, checked for structure (a string key, `:`, a value, then `,`
 * or the end; nothing after the object; no key twice). Values themselves are not validated
 * here: the caller parses each one, or knows its bytes from before. Null when the bytes are not
 * a JSON object. With `resume`, the bytes before its checkpoint are taken as indexed there, and
 * once the resumed array closes, a rest equal to the earlier turn's is taken from it too
 * (same bytes from the same state: the same index, moved); `trace` collects what the next turn
 * resumes from.
 */
export function indexTopLevel(bytes: Buffer, resume?: IndexResume, trace?: IndexTrace): TopLevelIndex | null {
  const n = bytes.length;
  let i = 0;
  const index: TopLevelIndex = new Map();
  const skip = () => {
    while (i < n && isSpace(bytes[i]!)) i++;
  };
  // The array being read, when the loop is inside one (a resumed index starts there).
  let open: { key: string; start: number; elements: { start: number; end: number }[] } | null = null;
  if (resume) {
    const { checkpoint } = resume;
    const from = resume.earlier.index;
    let taken = 0;
    for (const [key, value] of from) {
      if (taken++ === checkpoint.entries) break;
      index.set(key, value);
    }
    const array = from.get(checkpoint.key)!;
    open = { key: checkpoint.key, start: array.start, elements: array.elements!.slice(0, checkpoint.elements) };
    i = checkpoint.at;
  } else {
    while (i < n && isSpace(bytes[i]!)) i++;
    if (bytes[i] !== 123) return null;
    i++;
    skip();
    if (bytes[i] === 125) {
      i++;
      skip();
      return i === n ? index : null;
    }
  }
  for (;;) {
    if (!open) {
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
      // inspectJson refuses a repeated key with its own message before this runs; a resumed
      // index that met one anyway must not keep either value silently.
      if (index.has(key)) return null;
      i = keyEnd;
      skip();
      if (bytes[i] !== 58) return null;
      i++;
      skip();
      const start = i;
      if (bytes[i] === 91) {
        i++;
        skip();
        if (bytes[i] === 93) {
          i++;
          index.set(key, { start, end: i, elements: [] });
          skip();
        } else open = { key, start, elements: [] };
      } else {
        const end = valueEnd(bytes, i, (c) => c === 125);
        if (end < 0) return null;
        let trimmed = end;
        while (trimmed > start && isSpace(bytes[trimmed - 1]!)) trimmed--;
        if (trimmed === start) return null;
        index.set(key, { start, end: trimmed, elements: null });
        i = end;
      }
    }
    if (open) {
      // An array: its elements' ranges, trimmed, each a future block.
      for (;;) {
        skip();
        const elementStart = i;
        const end = valueEnd(bytes, i, (c) => c === 93);
        if (end < 0) return null;
        let trimmed = end;
        while (trimmed > elementStart && isSpace(bytes[trimmed - 1]!)) trimmed--;
        if (trimmed === elementStart) return null;
        open.elements.push({ start: elementStart, end: trimmed });
        i = end + 1;
        if (bytes[end] === 93) break;
        trace?.checkpoints.push({ at: i, key: open.key, entries: index.size, elements: open.elements.length });
      }
      index.set(open.key, { start: open.start, end: i, elements: open.elements });
      const closed = open.key;
      open = null;
      skip();
      trace?.closes.set(closed, i);
      if (resume && closed === resume.checkpoint.key) {
        const earlier = resume.earlier;
        const from = earlier.closes.get(closed);
        if (
          from !== undefined &&
          n - i === earlier.bytes.length - from &&
          bytes.compare(earlier.bytes, from, earlier.bytes.length, i, n) === 0
        ) {
          const by = i - from;
          let after = false;
          for (const [key, value] of earlier.index) {
            if (after) index.set(key, shifted(value, by));
            else after = key === closed;
          }
          if (trace) {
            for (const c of earlier.checkpoints) if (c.at > from) trace.checkpoints.push({ ...c, at: c.at + by });
            for (const [key, at] of earlier.closes) if (at > from) trace.closes.set(key, at + by);
            trace.tailFrom = i;
            trace.tailShift = by;
          }
          return index;
        }
      }
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
const validBlocks = createBoundedSet(50_000);

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

/** The hash of a block an earlier turn had at the same place in the same bytes, if any. */
export type KnownBlocks = (start: number, end: number) => string | undefined;

/**
 * The body object without parsing what was seen before: short top-level values are parsed now;
 * long ones (and each element of a long array) are hashed, parsed now only when their bytes are
 * new (to refuse bad JSON before anything runs), and otherwise parsed on first access through a
 * getter. Whoever reads `body.messages` gets the array as JSON.parse would have built it.
 * A new block keeps its parsed value (`parsed`) for the scanner, which would parse it again.
 * Null when some value is not JSON.
 */
export function readDocument(bytes: Buffer, index: TopLevelIndex, known?: KnownBlocks): RequestDocument | null {
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
      const path = value.elements ? [key, i] : [key];
      const before = known?.(part.start, part.end);
      if (before) {
        blocks.push({ path, start: part.start, end: part.end, hash: before });
        continue;
      }
      const key_ = blockHash(bytes, part.start, part.end);
      let parsed: { value: unknown } | undefined;
      if (!validBlocks.has(key_)) {
        parsed = parseSlice(bytes, part.start, part.end);
        if (!parsed) return null;
        validBlocks.add(key_);
      }
      blocks.push({ path, start: part.start, end: part.end, hash: key_, ...(parsed ? { parsed } : {}) });
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

/**
 * The last body of each recent conversation, to find where the next turn departs from it (ADR
 * 0117, "the next turn"): keyed by a hash of the first `turnKeyBytes` bytes (Claude Code and
 * Codex put the conversation first, and its first message stays), holding the body's bytes,
 * index, trace and blocks (ranges and hashes). Bounded by count and by the bytes it keeps alive.
 */
export type Turn = {
  bytes: Buffer;
  index: TopLevelIndex;
  checkpoints: IndexCheckpoint[];
  closes: Map<string, number>;
  blocks: { start: number; end: number; hash: string }[];
};
const turns = new Map<string, Turn>();
const turnsMax = 256;
const turnsMaxBytes = 32 * 1024 * 1024;
let turnsBytes = 0;
/** Bodies shorter than this are indexed whole (a 2 KB turn still gains: its passes cost more than the lookup). */
export const turnMinBytes = 1 * 1024;
const turnKeyBytes = 1024;

const turnKey = (bytes: Buffer) => hash('sha1', bytes.subarray(0, turnKeyBytes), 'base64');

/**
 * The length of the common prefix of two buffers: memcmp over growing strides, then halving the
 * stride that differs (memcmp again) down to a few bytes, so no long stretch is read in JS.
 */
export function commonPrefix(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  let at = 0;
  let stride = 4096;
  while (at < n) {
    let end = Math.min(n, at + stride);
    if (a.compare(b, at, end, at, end) !== 0) {
      // The first difference is in [at, end): keep the half that holds it.
      while (end - at > 32) {
        const mid = (at + end) >> 1;
        if (a.compare(b, at, mid, at, mid) === 0) at = mid;
        else end = mid;
      }
      for (let i = at; i < end; i++) if (a[i] !== b[i]) return i;
      return end;
    }
    at = end;
    stride = Math.min(stride * 2, 256 * 1024);
  }
  return n;
}

/**
 * Where this body's index can start from an earlier turn of its conversation: the last
 * checkpoint inside the bytes it shares with that turn, and the top-level keys before it (for
 * inspectJson's duplicate check). Null when no earlier turn shares enough.
 */
export function resumeTurn(bytes: Buffer): { resume: IndexResume; topKeys: string[] } | null {
  if (bytes.length < turnMinBytes) return null;
  const earlier = turns.get(turnKey(bytes));
  if (!earlier) return null;
  const limit = commonPrefix(earlier.bytes, bytes);
  // The last checkpoint at or before `limit` (they are in byte order).
  let found = -1;
  for (let lo = 0, hi = earlier.checkpoints.length - 1; lo <= hi; ) {
    const mid = (lo + hi) >> 1;
    if (earlier.checkpoints[mid]!.at <= limit) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  const checkpoint = earlier.checkpoints[found];
  if (!checkpoint) return null;
  const topKeys = [...earlier.index.keys()].slice(0, checkpoint.entries);
  topKeys.push(checkpoint.key);
  return { resume: { earlier, checkpoint }, topKeys };
}

/**
 * The blocks this body shares with the earlier turn it resumed from: those before the
 * checkpoint at the same place, and those of a repeated rest, moved by `tailShift`.
 */
export function knownBlocks(resume: IndexResume, trace: IndexTrace): KnownBlocks {
  const byStart = new Map<number, { end: number; hash: string }>();
  const { earlier, checkpoint } = resume;
  for (const block of earlier.blocks) {
    if (block.end <= checkpoint.at) byStart.set(block.start, block);
    else if (trace.tailFrom !== null && block.start + trace.tailShift >= trace.tailFrom) {
      byStart.set(block.start + trace.tailShift, { end: block.end + trace.tailShift, hash: block.hash });
    }
  }
  return (start, end) => {
    const block = byStart.get(start);
    return block && block.end === end ? block.hash : undefined;
  };
}

/** Keeps this body as its conversation's latest turn (`resume`: the turn it resumed from, if any). */
export function rememberTurn(bytes: Buffer, index: TopLevelIndex, trace: IndexTrace, blocks: RequestBlock[], resume?: IndexResume): void {
  if (bytes.length < turnMinBytes) return;
  const checkpoints = resume
    ? [...resume.earlier.checkpoints.filter((c) => c.at <= resume.checkpoint.at), ...trace.checkpoints]
    : trace.checkpoints;
  if (checkpoints.length === 0) return;
  const closes = new Map<string, number>();
  if (resume) for (const [key, at] of resume.earlier.closes) if (at <= resume.checkpoint.at) closes.set(key, at);
  for (const [key, at] of trace.closes) closes.set(key, at);
  const key = turnKey(bytes);
  const old = turns.get(key);
  if (old) {
    turns.delete(key);
    turnsBytes -= old.bytes.length;
  }
  // Only ranges and hashes are kept of the blocks: a parsed value would pin the request's objects.
  const kept = blocks.map(({ start, end, hash: h }) => ({ start, end, hash: h }));
  turns.set(key, { bytes, index, checkpoints, closes, blocks: kept });
  turnsBytes += bytes.length;
  while (turns.size > turnsMax || turnsBytes > turnsMaxBytes) {
    const [oldestKey, oldest] = turns.entries().next().value!;
    turns.delete(oldestKey);
    turnsBytes -= oldest.bytes.length;
  }
}
