import { describe, expect, it } from 'vitest';
import { createUsageStripper } from './usage-stripper.ts';

describe('createUsageStripper', () => {
  it('drops the usage chunk and the usage:null fields the gateway caused, across chunk boundaries', () => {
    const stripper = createUsageStripper();
    const a = 'data: {"id":"1","choices":[{"delta":{"content":"Hi"}}],"usage":null}\n\n';
    const usage = 'data: {"id":"1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n';
    const done = 'data: [DONE]\n\n';
    const first = stripper.push(a.slice(0, 20));
    expect(first).toEqual({ forward: '', seen: '' });
    const rest = stripper.push(a.slice(20) + usage + done);
    expect(rest.forward).toBe('data: {"id":"1","choices":[{"delta":{"content":"Hi"}}]}\n\ndata: [DONE]\n\n');
    // The usage tap still sees everything that arrived.
    expect(rest.seen).toBe(a + usage + done);
    expect(stripper.flush()).toBe('');
  });
});
