import { describe, expect, it } from 'vitest';
import { anthropicToChat } from './anthropic-to-chat.ts';
import { chatToAnthropic } from './chat-to-anthropic.ts';
import { responsesToAnthropic } from './responses-to-anthropic.ts';
import { TranslationError } from './translator.ts';

const ctx = { clientModel: 'client-model', upstreamModel: 'upstream-model', providerType: 'anthropic' };

describe('request translation', () => {
  it('Responses → Messages: a freeform tool becomes a one-string tool, and its call comes back as a custom_tool_call', () => {
    const body = {
      model: 'client-model',
      instructions: 'You are Codex.',
      tools: [
        {
          type: 'custom',
          name: 'apply_patch',
          description: 'Edit files.',
          format: { type: 'grammar', syntax: 'lark', definition: 'start: "x"' },
        },
        { type: 'web_search' },
        { type: 'namespace', name: 'multi_agent_v1', tools: [{ type: 'function', name: 'spawn' }] },
      ],
      input: [
        { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'Be careful.' }] },
        {
          type: 'message',
          role: 'user',
          content: [
            { type: 'input_text', text: 'patch it' },
            { type: 'input_image', image_url: 'data:image/png;base64,AAAA' },
          ],
        },
        { type: 'reasoning', encrypted_content: 'opaque' },
        { type: 'custom_tool_call', call_id: 'call_1', name: 'apply_patch', input: '*** Begin Patch' },
        { type: 'custom_tool_call_output', call_id: 'call_1', output: 'Done!' },
      ],
    };
    const { path, body: sent } = responsesToAnthropic.request(body, ctx);
    expect(path).toBe('/v1/messages');
    expect(sent).toEqual({
      model: 'upstream-model',
      max_tokens: 8192,
      system: 'You are Codex.\n\nBe careful.',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'patch it' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
          ],
        },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'apply_patch', input: { input: '*** Begin Patch' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: 'Done!' }] },
      ],
      tools: [
        {
          name: 'apply_patch',
          description: 'Edit files.\n\nThe input follows this lark:\nstart: "x"',
          input_schema: {
            type: 'object',
            properties: { input: { type: 'string', description: 'The raw input for this tool.' } },
            required: ['input'],
          },
        },
      ],
    });
    const answer = responsesToAnthropic.response(
      {
        id: 'msg_1',
        content: [{ type: 'tool_use', id: 'toolu_9', name: 'apply_patch', input: { input: '*** Begin Patch\n*** End Patch' } }],
        stop_reason: 'tool_use',
        usage: { input_tokens: 10, output_tokens: 5 },
      },
      { ...ctx, clientBody: body },
    );
    expect(answer['output']).toMatchObject([
      { type: 'custom_tool_call', call_id: 'toolu_9', name: 'apply_patch', input: '*** Begin Patch\n*** End Patch' },
    ]);
    expect(answer['usage']).toMatchObject({ input_tokens: 10, output_tokens: 5 });
  });

  it('Responses → Messages: a previous_response_id over HTTP is refused (the gateway stores no responses)', () => {
    expect(() => responsesToAnthropic.request({ model: 'm', previous_response_id: 'resp_1', input: [] }, ctx)).toThrow(TranslationError);
  });

  it('Chat → Messages: tool messages and the next user text share one user turn, tool results first', () => {
    const { body } = chatToAnthropic.request(
      {
        model: 'm',
        max_tokens: 100,
        temperature: 1.6,
        stop: 'END',
        messages: [
          { role: 'user', content: 'go' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
          { role: 'tool', tool_call_id: 'c1', content: 'one' },
          { role: 'user', content: 'and now?' },
        ],
      },
      ctx,
    );
    expect(body).toMatchObject({ max_tokens: 100, temperature: 1, stop_sequences: ['END'] });
    expect(body['messages']).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'go' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'c1', name: 'f', input: { a: 1 } }] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'c1', content: 'one' },
          { type: 'text', text: 'and now?' },
        ],
      },
    ]);
  });

  it('Messages → Chat: thinking and server tools dropped, tool errors marked, a tool’s image follows as the user’s', () => {
    const { body } = anthropicToChat.request(
      {
        model: 'm',
        max_tokens: 64000,
        thinking: { type: 'enabled', budget_tokens: 1000 },
        tools: [
          { type: 'web_search_20250305', name: 'web_search' },
          { name: 'Read', input_schema: { type: 'object' } },
        ],
        tool_choice: { type: 'any', disable_parallel_tool_use: true },
        messages: [
          { role: 'user', content: 'look' },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'hmm', signature: 'sig' },
              { type: 'tool_use', id: 't1', name: 'Read', input: { file: 'a.png' } },
            ],
          },
          {
            role: 'user',
            content: [
              {
                type: 'tool_result',
                tool_use_id: 't1',
                is_error: true,
                content: [
                  { type: 'text', text: 'partial' },
                  { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'BBBB' } },
                ],
              },
            ],
          },
        ],
      },
      { ...ctx, providerType: 'openai-compatible' },
    );
    expect(body).toEqual({
      model: 'upstream-model',
      max_tokens: 64000,
      messages: [
        { role: 'user', content: 'look' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 't1', type: 'function', function: { name: 'Read', arguments: '{"file":"a.png"}' } }],
        },
        { role: 'tool', tool_call_id: 't1', content: 'Error: partial' },
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,BBBB' } }] },
      ],
      tools: [{ type: 'function', function: { name: 'Read', parameters: { type: 'object' } } }],
      tool_choice: 'required',
      parallel_tool_calls: false,
    });
  });
});
