import { describe, expect, it } from 'vitest';
import { createSecretScanner } from '../secret-scan/secret-scanner.ts';
import { parseRequestBody } from './request-body.ts';
import { blockHash, blockMinBytes, commonPrefix, indexTopLevel, readDocument, resumeTurn, spliceTopLevel } from './request-document.ts';

const long = (n: number, seed = 'x') => `${seed} `.repeat(Math.ceil(n / (seed.length + 1))).slice(0, n);

const conversation = (turns: number, extra: Record<string, unknown> = {}) => ({
  model: 'claude-sonnet-5',
  max_tokens: 1024,
  stream: true,
  system: [{ type: 'text', text: long(3000, 'You are Claude Code.') }],
  tools: Array.from({ length: 5 }, (_, i) => ({
    name: `tool_${i}`,
    description: long(1500, `tool ${i}`),
    input_schema: { type: 'object' },
  })),
  messages: Array.from({ length: turns }, (_, i) =>
    i % 2 === 0
      ? { role: 'user', content: [{ type: 'tool_result', tool_use_id: `t${i}`, content: long(2000, `result ${i}`) }] }
      : { role: 'assistant', content: [{ type: 'tool_use', id: `t${i}`, name: 'tool_1', input: { path: `f${i}.ts` } }] },
  ),
  ...extra,
});

describe('indexTopLevel + readDocument', () => {
  const valid = [
    '{}',
    ' { "a" : 1 , "b" : [ ] } ',
    JSON.stringify(conversation(6)),
    JSON.stringify(conversation(3), null, 2),
    `{"model":"m","messages":[${JSON.stringify({ role: 'user', content: long(5000) })} , "x\\"]}" , {"a":"]"}]}`,
    `{"k\\u0065y":"${long(2000)}","model":"m"}`,
  ];
  it.each(valid)('reads what JSON.parse reads: %#', (text) => {
    const bytes = Buffer.from(text);
    const index = indexTopLevel(bytes);
    expect(index).not.toBeNull();
    const document = readDocument(bytes, index!);
    expect(JSON.parse(JSON.stringify(document!.body))).toEqual(JSON.parse(text));
  });

  const invalid = [
    '[1]',
    '"x"',
    '{"a":1,}',
    '{"a":1 "b":2}',
    '{"a":[1,]}',
    '{"a":[1 2]}',
    '{a:1}',
    '{"a":1}}',
    '{"a":1} x',
    '{"a"}',
    '{"a":}',
    `{"messages":[${JSON.stringify({ content: long(3000) })}, {"bad": tru}]}`,
    `{"messages":[${JSON.stringify({ content: long(3000) })} ${JSON.stringify({ content: long(3000) })}]}`,
    `{"system":"${long(3000)}`,
  ];
  it.each(invalid)('refuses what JSON.parse refuses (or is not an object): %#', (text) => {
    const bytes = Buffer.from(text);
    const index = indexTopLevel(bytes);
    expect(index === null || readDocument(bytes, index) === null).toBe(true);
    expect(parseRequestBody(bytes)).toMatchObject({ reason: 'malformed_json' });
  });

  it('hashes long values as blocks, one per element of a long array, and parses them only on access', () => {
    const text = JSON.stringify(conversation(4));
    const parsed = parseRequestBody(Buffer.from(text));
    if ('error' in parsed) throw new Error(parsed.error);
    expect(parsed.blocks.map((b) => b.path)).toEqual([
      ['system', 0],
      ['tools', 0],
      ['tools', 1],
      ['tools', 2],
      ['tools', 3],
      ['tools', 4],
      ['messages', 0],
      ['messages', 1],
      ['messages', 2],
      ['messages', 3],
    ]);
    expect(Object.getOwnPropertyDescriptor(parsed.body, 'messages')?.get).toBeTypeOf('function');
    expect(Object.getOwnPropertyDescriptor(parsed.body, 'max_tokens')?.value).toBe(1024);
    expect((parsed.body['messages'] as unknown[]).length).toBe(4);
    expect(Object.getOwnPropertyDescriptor(parsed.body, 'messages')?.value).toHaveLength(4);
    // The same bytes, the same hash: the next turn's earlier messages are known.
    const next = parseRequestBody(Buffer.from(JSON.stringify(conversation(6))));
    if ('error' in next) throw new Error(next.error);
    expect(next.blocks.slice(0, 10).map((b) => b.hash)).toEqual(parsed.blocks.map((b) => b.hash));
    expect(blockMinBytes).toBeGreaterThan(0);
  });

  it('splices changed top-level values into the client bytes, leaving the rest byte for byte', () => {
    const text = JSON.stringify(conversation(4), null, 1);
    const bytes = Buffer.from(text);
    const index = indexTopLevel(bytes)!;
    const out = spliceTopLevel(bytes, index, { model: 'upstream-name', stream_options: { include_usage: true } });
    expect(JSON.parse(out.toString())).toEqual({ ...JSON.parse(text), model: 'upstream-name', stream_options: { include_usage: true } });
    const messages = index.get('messages')!;
    expect(out.includes(bytes.subarray(messages.start, messages.end))).toBe(true);
    expect(JSON.parse(spliceTopLevel(Buffer.from('{}'), indexTopLevel(Buffer.from('{}'))!, { a: 1 }).toString())).toEqual({ a: 1 });
  });
});

describe('scanBlocks', () => {
  const rules = [{ namespace: 'codevector', name: 'all', detectors: ['all'], patterns: [] }];
  // An AWS access key id with its secret nearby (the paired detector): one finding per place.
  const secret = 'AKIA2OGYBAH6QWERT7XZ aws_secret_access_key=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';

  it('reports what a scan of the whole body reports, with the same paths', () => {
    const body = conversation(6, { metadata: { note: `token ${secret}` } });
    (body.messages[4]!.content as { content: string }[])[0]!.content += ` and ${secret}`;
    const raw = Buffer.from(JSON.stringify(body));
    const parsed = parseRequestBody(raw);
    if ('error' in parsed) throw new Error(parsed.error);
    const whole = createSecretScanner(rules).scan(raw, JSON.parse(raw.toString()), { all: true });
    const scanner = createSecretScanner(rules);
    const long = new Set(parsed.blocks.map((b) => b.path[0]));
    const rest = Object.fromEntries(Object.keys(parsed.body).map((k) => [k, long.has(k) ? null : parsed.body[k]]));
    const blocks = parsed.blocks.map((b) => ({
      raw: raw.subarray(b.start, b.end),
      hash: b.hash,
      path: b.path,
      value: () => JSON.parse(raw.toString('utf8', b.start, b.end)) as unknown,
    }));
    const byBlocks = scanner.scanBlocks({ raw: Buffer.from(JSON.stringify(rest)), value: rest }, blocks, { all: true });
    const view = (r: typeof whole) => r.matches.map((m) => [m.rule, m.path, m.start, m.end]).sort();
    expect(whole.matches.length).toBeGreaterThanOrEqual(2);
    expect(view(byBlocks)).toEqual(view(whole));
    // Again: clean blocks are skipped, the one holding a secret is searched again and found.
    const again = scanner.scanBlocks({ raw: Buffer.from(JSON.stringify(rest)), value: rest }, blocks, { all: true });
    expect(again.cachedBlocks).toBe(blocks.length - 1);
    expect(view(again)).toEqual(view(whole));
  });
});

describe('the next turn (resumed from the last one)', () => {
  // Claude Code's order: the conversation first, then system prompt and tools, which repeat.
  let session = 0;
  const claudeCodeBody = (turns: number, tail: Record<string, unknown> = {}) => {
    const c = conversation(turns);
    return `{"model":"m","messages":[${c.messages.map((m) => JSON.stringify(m)).join(',')}],${JSON.stringify({
      system: c.system,
      tools: c.tools,
      metadata: { user_id: `session-${session}` },
      max_tokens: 1024,
      stream: true,
      ...tail,
    }).slice(1)}`;
  };
  const expectAsFresh = (text: string) => {
    const bytes = Buffer.from(text);
    const parsed = parseRequestBody(bytes);
    if ('error' in parsed) throw new Error(parsed.error);
    expect(JSON.parse(JSON.stringify(parsed.body))).toEqual(JSON.parse(text));
    for (const block of parsed.blocks) expect(block.hash).toBe(blockHash(bytes, block.start, block.end));
    const fresh = indexTopLevel(bytes)!;
    expect([...parsed.index.entries()]).toEqual([...fresh.entries()]);
    return parsed;
  };

  it('reads each turn as a fresh parse would, resuming inside the messages and reusing the repeated rest', () => {
    session++;
    expectAsFresh(claudeCodeBody(8));
    for (let turns = 10; turns <= 16; turns += 2) {
      const text = claudeCodeBody(turns);
      const turn = resumeTurn(Buffer.from(text));
      expect(turn?.resume.checkpoint.key).toBe('messages');
      expectAsFresh(text);
    }
  });

  it('reads a turn whose system prompt or tools changed, and one cut back to fewer messages', () => {
    session++;
    expectAsFresh(claudeCodeBody(10));
    expectAsFresh(claudeCodeBody(12, { tools: [{ name: 'only', description: long(2000), input_schema: {} }] }));
    expectAsFresh(claudeCodeBody(14, { temperature: 1 }));
    expectAsFresh(claudeCodeBody(6));
    expectAsFresh(claudeCodeBody(8).replace('"model":"m"', '"model":"other"'));
  });

  it('refuses in the new part what a fresh parse refuses: bad JSON, a repeated key, too deep', () => {
    session++;
    const base = claudeCodeBody(10);
    expectAsFresh(base);
    const next = claudeCodeBody(12);
    const cut = next.indexOf('],"system"');
    const withMessage = (message: string) => `${next.slice(0, cut)},${message}${next.slice(cut)}`;
    expect(parseRequestBody(Buffer.from(withMessage('{"role":"user","content":tru}')))).toMatchObject({ reason: 'malformed_json' });
    expect(parseRequestBody(Buffer.from(withMessage('{"role":"user","role":"x"}')))).toMatchObject({ reason: 'duplicate_key' });
    expect(parseRequestBody(Buffer.from(withMessage(`${'['.repeat(200)}${']'.repeat(200)}`)))).toMatchObject({ reason: 'too_deep' });
    expect(parseRequestBody(Buffer.from(`${next.slice(0, -1)},"model":"again"}`))).toMatchObject({ reason: 'duplicate_key' });
    expect(parseRequestBody(Buffer.from(`${next.slice(0, cut)}],"messages":[]${next.slice(cut + 1)}`))).toMatchObject({
      reason: 'duplicate_key',
    });
  });

  it('agrees with JSON.parse on next turns with bytes changed anywhere after the first kilobyte', () => {
    session++;
    const base = claudeCodeBody(10);
    const next = claudeCodeBody(12);
    const alphabet = ['"', '\\', '{', '}', '[', ']', ',', ':', ' ', 'a', '1'];
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let trial = 0; trial < 300; trial++) {
      expectAsFresh(base);
      const chars = next.split('');
      const at = 1024 + Math.floor(random() * (chars.length - 1024));
      chars[at] = alphabet[Math.floor(random() * alphabet.length)]!;
      const text = chars.join('');
      let reference: unknown;
      try {
        reference = JSON.parse(text);
      } catch {
        reference = undefined;
      }
      const parsed = parseRequestBody(Buffer.from(text));
      if (reference === undefined) expect(parsed).toHaveProperty('error');
      else if (!('error' in parsed)) expect(JSON.parse(JSON.stringify(parsed.body))).toEqual(reference);
    }
  });

  it('finds the first differing byte', () => {
    const a = Buffer.from(long(300_000));
    for (const at of [0, 1, 31, 4095, 4096, 70_000, 299_999]) {
      const b = Buffer.from(a);
      b[at] = 0;
      expect(commonPrefix(a, b)).toBe(at);
    }
    expect(commonPrefix(a, a.subarray(0, 1000))).toBe(1000);
  });
});
