import { describe, expect, it } from 'vitest';
import { createKeywordFinder, type FinderKeyword } from './keyword-finder.ts';

/** Every occurrence, by brute force: ASCII letters fold when `ignoreCase`, nothing else does. */
function naive(keywords: readonly FinderKeyword[], text: string): number[][] {
  return keywords.map(({ text: keyword, ignoreCase }) => {
    const found: number[] = [];
    for (let p = 0; p + keyword.length <= text.length; p++) {
      let ok = true;
      for (let j = 0; j < keyword.length && ok; j++) {
        const c = text.charCodeAt(p + j);
        const k = keyword.charCodeAt(j);
        const letter = (k | 32) >= 97 && (k | 32) <= 122;
        ok = c === k || (ignoreCase && letter && c < 128 && (c | 32) === (k | 32));
      }
      if (ok) found.push(p);
    }
    return found;
  });
}

function found(keywords: readonly FinderKeyword[], text: string): number[][] {
  const hits = createKeywordFinder(keywords).find(text);
  return keywords.map((_, k) => [...hits.positions.subarray(hits.start[k]!, hits.start[k + 1]!)]);
}

// A small seeded generator, so a failure can be replayed.
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x80000000;
  };
}

describe('keyword finder', () => {
  const keywords: FinderKeyword[] = [
    { text: 'AKIA', ignoreCase: false },
    { text: 'ghp_', ignoreCase: false },
    { text: 'eyJ', ignoreCase: false },
    { text: 'PRIVATE KEY-----', ignoreCase: false },
    { text: 'aws_secret', ignoreCase: true },
    { text: 'aws_secret', ignoreCase: false },
    { text: 'secret_access_key', ignoreCase: true },
    { text: 'itk_', ignoreCase: true },
    { text: 'aaa', ignoreCase: false },
    { text: 'ab', ignoreCase: true },
    { text: 'z', ignoreCase: false },
  ];

  it('finds every occurrence, overlapping ones and ones at both ends, as brute force does', () => {
    const text = 'AKIAAKIA ghp_eyJ aaaaa AWS_SECRET_ACCESS_KEY aws_secret Itk_ -----BEGIN PRIVATE KEY----- abAB z';
    expect(found(keywords, text)).toEqual(naive(keywords, text));
    expect(found(keywords, 'zAKIA')).toEqual(naive(keywords, 'zAKIA'));
    expect(found(keywords, 'AKIAz')).toEqual(naive(keywords, 'AKIAz'));
  });

  it('agrees with brute force on random text at every alignment and length', () => {
    const next = random(42);
    const alphabet = 'AKIghp_eyJawsWS_ecrtkzb -→Łabz';
    for (let round = 0; round < 300; round++) {
      const length = Math.floor(next() * 80);
      let text = '';
      for (let i = 0; i < length; i++) {
        text += next() < 0.15 ? keywords[Math.floor(next() * keywords.length)]!.text : alphabet[Math.floor(next() * alphabet.length)];
      }
      expect(found(keywords, text), text).toEqual(naive(keywords, text));
    }
  });

  it('drops hits that non-ASCII units fake in the one-byte copy (Ł has the low byte of A)', () => {
    const text = '\u0141KIA \u0161ws_secret AKIA';
    expect(found(keywords, text)[0]).toEqual([text.lastIndexOf('AKIA')]);
    expect(found(keywords, text)[4]).toEqual([]);
  });

  it('finds keywords across the 1 MB chunks it copies long strings in, once each', () => {
    const chunk = 1 << 20;
    for (const shift of [-17, -16, -1, 0, 16]) {
      const text = `${'x'.repeat(chunk + shift)}secret_access_keyAKIA ${'y'.repeat(chunk - 40)}PRIVATE KEY-----ghp_${'z'.repeat(shift + 20)}eyJ`;
      expect(found(keywords, text), String(shift)).toEqual(naive(keywords, text));
    }
  });

  it('rejects keywords it cannot find in a one-byte copy', () => {
    expect(() => createKeywordFinder([{ text: 'пароль', ignoreCase: true }])).toThrow(/ASCII/);
    expect(() => createKeywordFinder([{ text: '', ignoreCase: false }])).toThrow(/ASCII/);
  });
});
