import { describe, expect, it } from 'vitest';
import { createUsageStripper } from './usage-stripper.ts';

describe('createUsageStripper', () => {
  const chunk = (text: string) => `data: {"choices":[{"delta":{"content":"${text}"}}],"usage":null}\n\n`;
  const stream = `${chunk('a')}${chunk('b'.repeat(200_000))}data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\ndata: [DONE]\n\n`;
  const expected = `${chunk('a')}${chunk('b'.repeat(200_000))}data: [DONE]\n\n`.replaceAll(',"usage":null', '');

  it('forwards the same events and sees the same bytes however the stream is cut, blank lines split across chunks included', () => {
    for (const size of [1, 2, 3, 17, 4096, 65_536, stream.length]) {
      const stripper = createUsageStripper();
      let forward = '';
      let seen = '';
      for (let i = 0; i < stream.length; i += size) {
        const out = stripper.push(stream.slice(i, i + size));
        forward += out.forward;
        seen += out.seen;
      }
      forward += stripper.flush();
      expect(forward).toBe(expected);
      expect(seen).toBe(stream);
    }
  });
});
