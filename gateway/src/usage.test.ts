import { describe, expect, it } from 'vitest';
import { createSseUsageTap, findUsageObject, findUsageObjectInBytes, usageFromJson } from './usage.ts';

describe('findUsageObjectInBytes', () => {
  it('finds what findUsageObject finds in the text', () => {
    const bodies = [
      '{"id":"x","usage":{"input_tokens":3,"output_tokens":5}}',
      '{"content":[{"text":"say \\"usage\\": {\\"a\\":1} and ünïcödé 🎉 {"}],"usage": {"input_tokens":7,"output_tokens":1,"cache_read_input_tokens":2}}',
      '{"usage":{"prompt_tokens":9,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":2}},"choices":[{"message":{"content":"\\"usage\\":\\"none\\""}}]}',
      '{"no":"usage here"}',
      '{"usage":null}',
    ];
    for (const body of bodies) expect(findUsageObjectInBytes(Buffer.from(body))).toEqual(findUsageObject(body));
  });

  it('gives usageFromJson the same answer for bytes and text', () => {
    const body =
      '{"choices":[{"message":{"content":"héllo"}}],"usage":{"prompt_tokens":10,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":4}}}';
    expect(usageFromJson('openai-chat', Buffer.from(body))).toEqual(usageFromJson('openai-chat', body));
    expect(usageFromJson('openai-chat', Buffer.from(body))).toEqual({ input: 6, output: 3, cacheRead: 4, cacheWrite: 0 });
  });
});

describe('createSseUsageTap', () => {
  const stream =
    'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":12,"output_tokens":1}}}\n\n' +
    `event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"${'x'.repeat(300_000)}"}}\n\n` +
    'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":9}}\n\n';

  it('reads usage however the stream is cut into chunks, long lines included', () => {
    for (const size of [1, 7, 4096, 65_536, stream.length]) {
      const tap = createSseUsageTap('anthropic');
      for (let i = 0; i < stream.length; i += size) tap.push(stream.slice(i, i + size));
      expect(tap.seen).toBe(true);
      expect(tap.usage).toMatchObject({ input: 12, output: 9 });
    }
  });

  it('skips a line too long to hold (a 10 MB line is held; what is past 16 MB is not) and keeps reading after it', () => {
    const tap = createSseUsageTap('anthropic');
    const piece = 'y'.repeat(1 << 20);
    tap.push('event: content_block_delta\ndata: {"usage":{"output_tokens":999},"t":"');
    for (let i = 0; i < 20; i++) tap.push(piece);
    tap.push('"}\n\nevent: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":4}}\n\n');
    expect(tap.usage.output).toBe(4);
  });
});
