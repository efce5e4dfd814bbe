// Finds every occurrence of a set of ASCII keywords in a string, in one pass over a one-byte copy.
//
// A V8 RegExp alternation backtracks at every character and RE2 over a byte copy is restarted at
// every hit (~270 MB/s on agent bodies dense with keywords). Here the copy is read four bytes at a
// time and two of its bigrams (at even offsets) are looked up in a 64 K table; a keyword of three
// or more characters always covers one of two chosen consecutive bigrams at an even offset, so no
// occurrence is missed. Each keyword's bigrams are chosen where they are rare in text (English
// letter frequencies, punctuation and capitals count as rare, and a list of frequent bigrams), which
// leaves about one candidate per 120 bytes on this repository's sources; candidates are then
// compared byte by byte.
//
// The copy keeps one byte per UTF-16 unit (its low byte), so offsets are those of the string. A
// hit that a non-ASCII unit fakes (U+0141 has the low byte of `A`) is checked against the string
// itself and dropped.

/** A keyword to find; `ignoreCase` folds ASCII letters only (as a RegExp with `i` and no `u` does). */
export type FinderKeyword = {
  text: string;
  ignoreCase: boolean;
  /**
   * Where the two sampled bigrams start (`text[pair..pair+3]`), when the caller knows better than
   * the letter-frequency model: `_token` sampled at `ok`/`ke` shares the bigrams of `token=`.
   */
  pair?: number;
};

/**
 * Where the keywords occur: the hits of keyword `k` (its index in the finder's list) are
 * `positions[start[k]]` up to `positions[start[k + 1] - 1]`, ascending.
 */
export type KeywordHits = { total: number; start: Int32Array; positions: Int32Array };

export type KeywordFinder = { readonly keywords: readonly FinderKeyword[]; find(text: string): KeywordHits };

// English letter frequencies (percent), to pick rare bigrams; capitals, digits and most
// punctuation are rarer than any common lowercase letter in prose and code.
const letterFrequency = [
  8.2, 1.5, 2.8, 4.3, 12.7, 2.2, 2.0, 6.1, 7.0, 0.15, 0.8, 4.0, 2.4, 6.7, 7.5, 1.9, 0.1, 6.0, 6.3, 9.1, 2.8, 1.0, 2.4, 0.15, 2.0, 0.07,
];

function charWeight(code: number): number {
  if (code >= 97 && code <= 122) return letterFrequency[code - 97]!;
  if (code >= 65 && code <= 90) return letterFrequency[code - 65]! / 8;
  if (code >= 48 && code <= 57) return 1;
  if (code === 32 || code === 46 || code === 10) return 12;
  if (code === 95 || code === 47 || code === 40 || code === 41) return 3;
  return 2;
}

// Bigrams frequent in English or in source code: the product of their letters' frequencies
// underrates `ke`, `ey` or `xp` (key, export).
const commonBigrams = new Set(
  'th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou io le ve co me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur ex xp po rt ke ey ty yp pe ct ns tr ue ul un nc ca ok et ge rn mp im lo ho ub pu bl ec ac au ut ia ss pa cc ed'.split(
    ' ',
  ),
);

function bigramWeight(a: number, b: number): number {
  const weight = charWeight(a) * charWeight(b);
  return commonBigrams.has(String.fromCharCode(a | 32, b | 32)) ? Math.max(weight, 40) * 4 : weight;
}

function isLetter(code: number): boolean {
  const lower = code | 32;
  return lower >= 97 && lower <= 122;
}

/** The byte values a keyword character matches: both cases of a letter when folding. */
function variants(code: number, ignoreCase: boolean): number[] {
  return ignoreCase && isLetter(code) ? [code | 32, code & ~32] : [code];
}

/** True for keywords a finder takes: non-empty and ASCII. */
export function isFindable(keyword: string): boolean {
  if (keyword.length === 0) return false;
  for (let i = 0; i < keyword.length; i++) if (keyword.charCodeAt(i) > 127) return false;
  return true;
}

const allBytes = Array.from({ length: 256 }, (_, i) => i);

// Scratch space shared by all finders (a scan is synchronous and `find` calls nothing that could
// call it again): the copy of 1 MB of a string at a time, candidate word indexes, and raw hits.
const scratchBytes = 1 << 20;
const scratch = Buffer.allocUnsafeSlow(scratchBytes + 4);
const scratchWords = new Uint32Array(scratch.buffer, scratch.byteOffset, (scratchBytes + 4) >> 2);
const candidates = new Int32Array(4096);
let hitPositions = new Int32Array(1024);
let hitKeywords = new Int32Array(1024);

/** Indexes `k` in `words[from, end)` whose two bigrams hit the table, until `out` is full. */
function collectCandidates(words: Uint32Array, from: number, end: number, table: Uint8Array, out: Int32Array): number {
  let count = 0;
  const capacity = out.length;
  for (let k = from; k < end; k++) {
    const word = words[k]!;
    if ((table[word & 0xffff]! | table[word >>> 16]!) !== 0) {
      out[count++] = k;
      if (count === capacity) break;
    }
  }
  return count;
}

/** Compiles a finder for `keywords` (each ASCII, at least one character). @throws Error otherwise. */
export function createKeywordFinder(keywords: readonly FinderKeyword[]): KeywordFinder {
  const count = keywords.length;
  const codeStart = new Int32Array(count + 1);
  const codes: number[] = [];
  const folds = new Uint8Array(count);
  let minLength = Number.POSITIVE_INFINITY;
  let maxLength = 0;
  // Bigram (little-endian: first byte low) -> entries (keyword, offset of the bigram in it).
  const entries = new Map<number, { keyword: number; offset: number }[]>();
  const add = (first: number[], second: number[], keyword: number, offset: number): void => {
    for (const a of first) {
      for (const b of second) {
        const bigram = a | (b << 8);
        const list = entries.get(bigram) ?? [];
        if (!list.some((entry) => entry.keyword === keyword && entry.offset === offset)) list.push({ keyword, offset });
        entries.set(bigram, list);
      }
    }
  };
  keywords.forEach(({ text, ignoreCase, pair }, keyword) => {
    if (!isFindable(text)) throw new Error(`keyword finder: not a non-empty ASCII keyword: ${JSON.stringify(text)}`);
    codeStart[keyword] = codes.length;
    const chars = [...text].map((char) => char.charCodeAt(0));
    for (const code of chars) codes.push(ignoreCase && isLetter(code) ? code | 32 : code);
    folds[keyword] = ignoreCase ? 1 : 0;
    minLength = Math.min(minLength, chars.length);
    maxLength = Math.max(maxLength, chars.length);
    const at = (i: number) => variants(chars[i]!, ignoreCase);
    if (chars.length >= 3) {
      // Bigrams j and j + 1: whichever of them starts at an even offset is sampled.
      let best = 0;
      let bestCost = Number.POSITIVE_INFINITY;
      for (let j = 0; j + 2 < chars.length; j++) {
        if (pair !== undefined && pair + 2 < chars.length && j !== pair) continue;
        const cost = bigramWeight(chars[j]!, chars[j + 1]!) + bigramWeight(chars[j + 1]!, chars[j + 2]!);
        if (cost < bestCost) {
          bestCost = cost;
          best = j;
        }
      }
      add(at(best), at(best + 1), keyword, best);
      add(at(best + 1), at(best + 2), keyword, best + 1);
    } else if (chars.length === 2) {
      // Starting at an even offset: the keyword itself; at an odd one: any byte, then its first.
      add(at(0), at(1), keyword, 0);
      add(allBytes, at(0), keyword, -1);
    } else {
      add(at(0), allBytes, keyword, 0);
      add(allBytes, at(0), keyword, -1);
    }
  });
  codeStart[count] = codes.length;
  const keywordCodes = Uint8Array.from(codes);
  const sample = new Uint8Array(65536);
  const group = new Uint16Array(65536);
  const groupStart: number[] = [0];
  const groupKeyword: number[] = [];
  const groupOffset: number[] = [];
  let maxGroup = 0;
  for (const [bigram, list] of entries) {
    for (const entry of list) {
      groupKeyword.push(entry.keyword);
      groupOffset.push(entry.offset);
    }
    groupStart.push(groupKeyword.length);
    sample[bigram] = 1;
    group[bigram] = groupStart.length - 1;
    maxGroup = Math.max(maxGroup, list.length);
  }
  if (groupStart.length > 65536 || maxLength > scratchBytes / 2) throw new Error('keyword finder: too many keywords or too long');
  const groupStarts = Int32Array.from(groupStart);
  const groupKeywords = Int32Array.from(groupKeyword);
  const groupOffsets = Int32Array.from(groupOffset);
  const emptyStart = new Int32Array(count + 1);
  const empty: KeywordHits = { total: 0, start: emptyStart, positions: new Int32Array(0) };

  /**
   * Compares the keywords of group `g` placed by the bigram at `q` of a chunk of `length` bytes;
   * appends those starting before `limit` (later ones are found in the next chunk), at `base + p`.
   */
  const verify = (bytes: Uint8Array, length: number, limit: number, base: number, q: number, g: number, found: number): number => {
    for (let e = groupStarts[g - 1]!, end = groupStarts[g]!; e < end; e++) {
      const keyword = groupKeywords[e]!;
      const p = q - groupOffsets[e]!;
      const from = codeStart[keyword]!;
      const size = codeStart[keyword + 1]! - from;
      if (p < 0 || p >= limit || p + size > length) continue;
      const fold = folds[keyword] === 1;
      let j = 0;
      for (; j < size; j++) {
        let byte = bytes[p + j]!;
        if (fold && byte >= 65 && byte <= 90) byte |= 32;
        if (byte !== keywordCodes[from + j]) break;
      }
      if (j === size) {
        hitPositions[found] = base + p;
        hitKeywords[found] = keyword;
        found++;
      }
    }
    return found;
  };

  const find = (text: string): KeywordHits => {
    const total = text.length;
    if (total < minLength) return empty;
    let found = 0;
    // Chunks of the scratch space, overlapping by a keyword's length less one: no large copy.
    for (let base = 0; base < total; ) {
      const length = Math.min(scratchBytes, total - base);
      const next = base + length >= total ? total : base + length - (maxLength - 1);
      scratch.write(base === 0 && length === total ? text : text.slice(base, base + length), 0, length, 'latin1');
      // Zero padding: the last word may reach past the chunk, and a zero byte is never a keyword's.
      scratch.writeUInt32LE(0, length);
      const end = (length + 3) >> 2;
      for (let from = 0; from < end; ) {
        const n = collectCandidates(scratchWords, from, end, sample, candidates);
        from = n === candidates.length ? candidates[n - 1]! + 1 : end;
        for (let i = 0; i < n; i++) {
          if (found + 2 * maxGroup > hitPositions.length) {
            const grown = new Int32Array(hitPositions.length * 2);
            grown.set(hitPositions);
            hitPositions = grown;
            const grownKeywords = new Int32Array(hitKeywords.length * 2);
            grownKeywords.set(hitKeywords);
            hitKeywords = grownKeywords;
          }
          const k = candidates[i]!;
          const word = scratchWords[k]!;
          const low = group[word & 0xffff]!;
          if (low !== 0) found = verify(scratch, length, next - base, base, 4 * k, low, found);
          const high = group[word >>> 16]!;
          if (high !== 0) found = verify(scratch, length, next - base, base, 4 * k + 2, high, found);
        }
      }
      base = next;
    }
    if (found === 0) return empty;
    // Drop hits that non-ASCII units faked, then group by keyword (positions ascending).
    const start = new Int32Array(count + 1);
    let kept = 0;
    for (let h = 0; h < found; h++) {
      const p = hitPositions[h]!;
      const keyword = hitKeywords[h]!;
      const size = codeStart[keyword + 1]! - codeStart[keyword]!;
      let ascii = true;
      for (let j = 0; j < size; j++) {
        if (text.charCodeAt(p + j) > 127) {
          ascii = false;
          break;
        }
      }
      if (!ascii) continue;
      hitPositions[kept] = p;
      hitKeywords[kept] = keyword;
      kept++;
      start[keyword + 1]!++;
    }
    if (kept === 0) return empty;
    for (let k = 0; k < count; k++) start[k + 1]! += start[k]!;
    const positions = new Int32Array(kept);
    const next = start.slice(0, count);
    for (let h = 0; h < kept; h++) positions[next[hitKeywords[h]!]!++] = hitPositions[h]!;
    if (hitPositions.length > 1 << 16) {
      // A body dense with keywords grew the hit space: not kept for the life of the process.
      hitPositions = new Int32Array(1024);
      hitKeywords = new Int32Array(1024);
    }
    for (let k = 0; k < count; k++) {
      // Hits of one keyword come in candidate order, which is position order except when two of
      // its bigrams are equal and both hit at one candidate.
      for (let i = start[k]! + 1; i < start[k + 1]!; i++) {
        if (positions[i]! < positions[i - 1]!) {
          positions.subarray(start[k]!, start[k + 1]!).sort();
          break;
        }
      }
    }
    return { total: kept, start, positions };
  };

  return { keywords, find };
}
