import { describe, expect, it } from 'vitest';
import { findUsageObject, findUsageObjectInBytes, usageFromJson } from './usage.ts';

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
