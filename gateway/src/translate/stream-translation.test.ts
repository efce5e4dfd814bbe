import { describe, expect, it } from 'vitest';
import { anthropicToChat } from './anthropic-to-chat.ts';
import { chatToAnthropic } from './chat-to-anthropic.ts';
import { responsesToAnthropic } from './responses-to-anthropic.ts';
import { createSseReader } from './sse-reader.ts';
import type { Json, Translator } from './translator.ts';

// The stream rewriters see the upstream's bytes in whatever pieces the network delivers: the
// output must not depend on where the pieces are cut.
const ctx = { clientModel: 'client-model', upstreamModel: 'upstream-model', providerType: 'openai-compatible', includeUsage: true };

const anthropicStream = [
  { type: 'message_start', message: { id: 'msg_1', usage: { input_tokens: 12, cache_read_input_tokens: 3, output_tokens: 1 } } },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Héllo ✓ ' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'world' } },
  { type: 'content_block_stop', index: 0 },
  { type: 'content_block_start', index: 1, content_block: { type: 'thinking', thinking: '' } },
  { type: 'content_block_delta', index: 1, delta: { type: 'thinking_delta', thinking: 'secret thoughts' } },
  { type: 'content_block_stop', index: 1 },
  { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_a', name: 'read', input: {} } },
  { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"path":' } },
  { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '"a"}' } },
  { type: 'content_block_stop', index: 2 },
  { type: 'content_block_start', index: 3, content_block: { type: 'tool_use', id: 'toolu_b', name: 'read', input: {} } },
  { type: 'content_block_delta', index: 3, delta: { type: 'input_json_delta', partial_json: '{"path":"b"}' } },
  { type: 'content_block_stop', index: 3 },
  { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 9 } },
  { type: 'message_stop' },
]
  .map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`)
  .join('');

const chunk = (delta: Json, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const chatStream = [
  chunk({ role: 'assistant', content: '' }),
  chunk({ content: 'Héllo ✓' }),
  chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'read', arguments: '' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"path":"a"}' } }] }),
  chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'read', arguments: '{"path":' } }] }),
  chunk({ tool_calls: [{ index: 1, function: { arguments: '"b"}' } }] }),
  chunk({}, 'tool_calls'),
  `data: ${JSON.stringify({ id: 'chatcmpl-1', choices: [], usage: { prompt_tokens: 20, completion_tokens: 7, prompt_tokens_details: { cached_tokens: 5 } } })}\n\n`,
  'data: [DONE]\n\n',
].join('');

/** Runs a stream through a translator in pieces of `size` bytes (cut anywhere, even inside a character). */
function rewrite(translator: Translator, stream: string, size: number): string {
  const rewriter = translator.stream(ctx);
  const bytes = Buffer.from(stream);
  const decoder = new TextDecoder();
  let out = '';
  for (let i = 0; i < bytes.length; i += size) out += rewriter.push(decoder.decode(bytes.subarray(i, i + size), { stream: true }));
  return out + rewriter.end();
}

/** The data of each event, parsed, with made-up ids and times blanked. */
function events(sse: string): Json[] {
  const reader = createSseReader();
  return [...reader.push(sse), ...reader.end()].map((e) => {
    if (e.data === '[DONE]') return { done: true };
    const blanked = e.data
      .replace(/"(id|item_id)":"(chatcmpl-|msg_|resp_|fc_|ctc_)[^"]*"/g, '"$1":"$2"')
      .replace(/"(created|created_at)":\d+/g, '"$1":0');
    return JSON.parse(blanked) as Json;
  });
}

describe('stream translation', () => {
  it.each([
    ['Anthropic → Chat', chatToAnthropic, anthropicStream],
    ['Anthropic → Responses', responsesToAnthropic, anthropicStream],
    ['Chat → Anthropic', anthropicToChat, chatStream],
  ] as const)('%s gives the same events whatever the pieces', (_name, translator, stream) => {
    const whole = events(rewrite(translator, stream, stream.length));
    for (const size of [1, 2, 3, 7, 64]) expect(events(rewrite(translator, stream, size))).toEqual(whole);
  });

  it('Anthropic → Chat: text, each tool call under its own index, no thinking, the finish reason, the usage chunk, [DONE]', () => {
    const out = events(rewrite(chatToAnthropic, anthropicStream, 5));
    const deltas = out.map((e) => ((e['choices'] as Json[] | undefined)?.[0]?.['delta'] ?? null) as Json | null);
    expect(deltas.map((d) => d?.['content']).filter((c) => c)).toEqual(['Héllo ✓ ', 'world']);
    expect(JSON.stringify(out)).not.toContain('secret thoughts');
    const calls = deltas.flatMap((d) => (d?.['tool_calls'] as Json[] | undefined) ?? []);
    expect(calls.filter((c) => c['id']).map((c) => [c['index'], c['id']])).toEqual([
      [0, 'toolu_a'],
      [1, 'toolu_b'],
    ]);
    const args = (index: number) =>
      calls
        .filter((c) => c['index'] === index)
        .map((c) => (c['function'] as Json)['arguments'])
        .join('');
    expect([args(0), args(1)]).toEqual(['{"path":"a"}', '{"path":"b"}']);
    expect(out.at(-3)).toMatchObject({ choices: [{ finish_reason: 'tool_calls' }] });
    expect(out.at(-2)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 15, completion_tokens: 9, prompt_tokens_details: { cached_tokens: 3 } },
    });
    expect(out.at(-1)).toEqual({ done: true });
  });

  it('Chat → Anthropic: blocks in order, parallel calls as consecutive tool_use blocks, usage in message_delta', () => {
    const out = events(rewrite(anthropicToChat, chatStream, 4));
    expect(out.map((e) => e['type'])).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(out[0]).toMatchObject({ message: { model: 'client-model', role: 'assistant' } });
    expect(out.filter((e) => e['type'] === 'content_block_start').map((e) => e['content_block'])).toEqual([
      { type: 'text', text: '' },
      { type: 'tool_use', id: 'call_a', name: 'read', input: {} },
      { type: 'tool_use', id: 'call_b', name: 'read', input: {} },
    ]);
    expect(out.at(-2)).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { input_tokens: 15, cache_creation_input_tokens: 0, cache_read_input_tokens: 5, output_tokens: 7 },
    });
  });

  it('Anthropic → Responses: a message item and two function calls, completed with the usage', () => {
    const out = events(rewrite(responsesToAnthropic, anthropicStream, 9));
    const done = out.at(-1)!;
    expect(done['type']).toBe('response.completed');
    expect((done['response'] as Json)['output']).toMatchObject([
      { type: 'message', status: 'completed', content: [{ type: 'output_text', text: 'Héllo ✓ world' }] },
      { type: 'function_call', call_id: 'toolu_a', name: 'read', arguments: '{"path":"a"}', status: 'completed' },
      { type: 'function_call', call_id: 'toolu_b', name: 'read', arguments: '{"path":"b"}', status: 'completed' },
    ]);
    expect((done['response'] as Json)['usage']).toMatchObject({
      input_tokens: 15,
      input_tokens_details: { cached_tokens: 3 },
      output_tokens: 9,
    });
    expect(out.map((e) => e['sequence_number'])).toEqual(out.map((_, i) => i));
  });

  it('a Chat stream cut before its finish reason stays cut: no message_stop is made up', () => {
    const cut = chatStream.slice(0, chatStream.indexOf('"finish_reason":"tool_calls"') - 80);
    const out = events(rewrite(anthropicToChat, cut, 16));
    expect(out.map((e) => e['type'])).not.toContain('message_stop');
  });
});
