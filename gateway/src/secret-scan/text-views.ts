// Other readings of one decoded string, for secrets its plain text hides: JSON escapes left in
// the text (a JSON file read as text: `\/`, `\u002b`), tokens wrapped over lines (76-column
// base64, `fold`), and Kubernetes Secret `data:` values, which are base64. Each view maps its
// offsets back to the string's, so a match reports (and Redact replaces) the original span.

/** A reading of a string; `toOriginal` maps a span of `text` to the span of the string it came from. */
export type TextView = { text: string; toOriginal(start: number, end: number): [number, number] };

/**
 * A view made by replacing short pieces: at view offset `view[k]`, `viewLength[k]` characters
 * stand for `originalLength[k]` characters at `original[k]`; the text between is unchanged.
 */
function pieceView(text: string, view: number[], viewLength: number[], original: number[], originalLength: number[]): TextView {
  // The last piece starting at or before `v` (before, strictly, for an end: a span that ends
  // where a removed newline was ends before it).
  const point = (v: number, isEnd: boolean): number => {
    let low = 0;
    let high = view.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (isEnd ? view[mid]! < v : view[mid]! <= v) {
        found = mid;
        low = mid + 1;
      } else high = mid - 1;
    }
    if (found < 0) return v;
    const inside = v - view[found]!;
    if (inside < viewLength[found]!) return original[found]!;
    return original[found]! + originalLength[found]! + (inside - viewLength[found]!);
  };
  return { text, toOriginal: (start, end) => [point(start, false), point(end, true)] };
}

const unicodeEscape = /\\u[0-9a-fA-F]{4}/g;
const escapePattern = /\\(?:u([0-9a-fA-F]{4})|([/"\\bfnrt]))/g;
const simpleEscapes: Record<string, string> = { '/': '/', '"': '"', '\\': '\\', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
// A secret an escape hides lies within this many characters of it.
const escapeReach = 320;

/**
 * The parts of the string around `\/` and `\u` escapes (±320 characters), JSON escapes decoded,
 * the text between them standing as one NUL (which no pattern crosses); null when it holds
 * neither escape. Only those parts: a 1 MB source file with one escaped slash costs a view of
 * 640 characters, not of 1 MB.
 */
export function unescapedView(text: string): TextView | null {
  const first = text.indexOf('\\');
  if (first < 0) return null;
  const positions: number[] = [];
  for (let at = text.indexOf('\\/', first); at >= 0; at = text.indexOf('\\/', at + 2)) positions.push(at);
  for (let at = text.indexOf('\\u', first); at >= 0; at = text.indexOf('\\u', at + 2)) {
    unicodeEscape.lastIndex = at;
    const m = unicodeEscape.exec(text);
    if (m === null) break;
    positions.push(m.index);
    at = m.index;
  }
  if (positions.length === 0) return null;
  positions.sort((a, b) => a - b);
  const windows: [number, number][] = [];
  for (const at of positions) {
    const from = Math.max(0, at - escapeReach);
    const to = Math.min(text.length, at + escapeReach);
    const previous = windows[windows.length - 1];
    if (previous && from <= previous[1]) previous[1] = Math.max(previous[1], to);
    else windows.push([from, to]);
  }
  const view: number[] = [];
  const viewLength: number[] = [];
  const original: number[] = [];
  const originalLength: number[] = [];
  let out = '';
  let last = 0;
  const gap = (to: number) => {
    view.push(out.length);
    viewLength.push(1);
    original.push(last);
    originalLength.push(to - last);
    out += '\u0000';
  };
  for (const [windowFrom, to] of windows) {
    const from = Math.max(windowFrom, last);
    if (from > last) gap(from);
    let cursor = from;
    escapePattern.lastIndex = from;
    for (let m = escapePattern.exec(text); m !== null && m.index < to; m = escapePattern.exec(text)) {
      out += text.slice(cursor, m.index);
      view.push(out.length);
      viewLength.push(1);
      original.push(m.index);
      originalLength.push(m[0].length);
      out += m[1] !== undefined ? String.fromCharCode(Number.parseInt(m[1], 16)) : simpleEscapes[m[2]!]!;
      cursor = m.index + m[0].length;
    }
    const end = Math.max(cursor, to);
    out += text.slice(cursor, end);
    last = end;
  }
  if (last < text.length) gap(text.length);
  return pieceView(out, view, viewLength, original, originalLength);
}

const tokenChar = /[A-Za-z0-9+/=_.-]/;
const isTokenChar = (text: string, at: number) => at >= 0 && at < text.length && tokenChar.test(text[at]!);

/**
 * The string with line breaks removed where a token that starts at one of `hits` runs on to the
 * next lines: its line is at least 60 characters and ends in a token character, the next line
 * starts with one, and following lines of the same width (and the shorter last one) belong to
 * it. Null when no hit is wrapped.
 */
export function unwrappedView(text: string, hits: Iterable<number>): TextView | null {
  const breaks: [at: number, length: number][] = [];
  const seen = new Set<number>();
  for (const hit of hits) {
    let lineEnd = text.indexOf('\n', hit);
    if (lineEnd < 0 || lineEnd - hit > 400 || seen.has(lineEnd)) continue;
    const lineStart = text.lastIndexOf('\n', hit) + 1;
    const cr = text.charCodeAt(lineEnd - 1) === 13 ? 1 : 0;
    const width = lineEnd - cr - lineStart;
    if (width < 60) continue;
    for (let lines = 0; lines < 400; lines++) {
      const contentEnd = lineEnd - (text.charCodeAt(lineEnd - 1) === 13 ? 1 : 0);
      if (!isTokenChar(text, contentEnd - 1) || !isTokenChar(text, lineEnd + 1) || seen.has(lineEnd)) break;
      seen.add(lineEnd);
      breaks.push([contentEnd, lineEnd + 1 - contentEnd]);
      const nextEnd = text.indexOf('\n', lineEnd + 1);
      const nextWidth = (nextEnd < 0 ? text.length : nextEnd) - (lineEnd + 1);
      const nextCr = nextEnd > 0 && text.charCodeAt(nextEnd - 1) === 13 ? 1 : 0;
      // The next line continues the token only if it is as wide (the shorter last line ends it).
      if (nextEnd < 0 || nextWidth - nextCr !== width) break;
      lineEnd = nextEnd;
    }
  }
  if (breaks.length === 0) return null;
  breaks.sort((a, b) => a[0] - b[0]);
  const view: number[] = [];
  const original: number[] = [];
  const originalLength: number[] = [];
  let out = '';
  let last = 0;
  for (const [at, length] of breaks) {
    out += text.slice(last, at);
    view.push(out.length);
    original.push(at);
    originalLength.push(length);
    last = at + length;
  }
  out += text.slice(last);
  return pieceView(
    out,
    view,
    view.map(() => 0),
    original,
    originalLength,
  );
}

const yamlDataLine = /^[ \t]+([\w.-]{1,253}):[ \t]+["']?([A-Za-z0-9+/]{8,}={0,2})["']?[ \t]*\r?$/gm;
const jsonDataEntry = /"([\w.-]{1,253})"\s*:\s*"([A-Za-z0-9+/]{8,}={0,2})"/g;

/** Printable text: no control characters but tab and line breaks, no replacement characters. */
function isText(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 32 && code !== 9 && code !== 10 && code !== 13) || code === 0xfffd) return false;
  }
  return true;
}

/** True when a string holds a Kubernetes Secret manifest (YAML or JSON). */
export function holdsKubernetesSecret(text: string): boolean {
  if (!text.includes('Secret')) return false;
  return text.includes('kind: Secret') || /"kind"\s*:\s*"Secret"/.test(text);
}

/**
 * A Kubernetes Secret's `data:` values decoded, one `key: value` line each, so key-named and
 * prefixed detectors see what the base64 hides. Every span maps to the whole base64 value.
 */
export function kubernetesSecretView(text: string): TextView | null {
  if (!holdsKubernetesSecret(text)) return null;
  const entries: { viewStart: number; start: number; end: number }[] = [];
  let out = '';
  for (const pattern of [yamlDataLine, jsonDataEntry]) {
    pattern.lastIndex = 0;
    for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
      const encoded = m[2]!;
      if (encoded.length % 4 !== 0) continue;
      const decoded = Buffer.from(encoded, 'base64').toString('utf8');
      // Only text: binary data (certificates in DER, images) and bad UTF-8 are not credentials here.
      if (decoded.length < 6 || !isText(decoded)) continue;
      const start = m.index + m[0].indexOf(encoded, m[1]!.length + 1);
      entries.push({ viewStart: out.length, start, end: start + encoded.length });
      // Decoded `KEY=value` lines (an .env file) or JSON stand as they are; a bare value keeps its key.
      const lines = decoded.replace(/\n$/, '');
      out += /^[\w.-]+[ \t]*[=:]|^\s*[{[]/m.test(lines) ? `${lines}\n` : `${m[1]}: ${lines}\n`;
    }
  }
  if (entries.length === 0) return null;
  entries.sort((a, b) => a.viewStart - b.viewStart);
  return {
    text: out,
    toOriginal: (start) => {
      let found = entries[0]!;
      for (const entry of entries) if (entry.viewStart <= start) found = entry;
      return [found.start, found.end];
    },
  };
}
