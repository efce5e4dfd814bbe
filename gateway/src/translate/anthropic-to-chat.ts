import { createSseReader, parseEventData } from './sse-reader.ts';
import {
  asArray,
  asString,
  isJson,
  type Json,
  openaiImageUrl,
  parseArguments,
  randomId,
  type StreamTranslator,
  stopReasonOf,
  type TranslateContext,
  type Translator,
  textOf,
} from './translator.ts';

/**
 * An Anthropic Messages client (Claude Code, the Anthropic SDK) on a Provider that speaks OpenAI
 * Chat Completions (OpenAI, vLLM, Ollama, LM Studio, OpenRouter-style servers). ADR 0124 lists
 * what is carried over and what is dropped.
 */
export const anthropicToChat: Translator = {
  upstreamFormat: 'openai-chat',
  request(body, ctx) {
    const messages: Json[] = [];
    const system = textOf(body['system']);
    if (system) messages.push({ role: 'system', content: system });
    for (const message of asArray(body['messages']).filter(isJson)) messages.push(...chatMessages(message));
    const out: Json = { model: ctx.upstreamModel, messages };
    const maxTokens = body['max_tokens'];
    if (typeof maxTokens === 'number') out[ctx.providerType === 'openai' ? 'max_completion_tokens' : 'max_tokens'] = maxTokens;
    if (typeof body['temperature'] === 'number') out['temperature'] = body['temperature'];
    if (typeof body['top_p'] === 'number') out['top_p'] = body['top_p'];
    const stops = asArray(body['stop_sequences']).filter((s) => typeof s === 'string');
    if (stops.length > 0) out['stop'] = stops;
    const tools = asArray(body['tools'])
      .filter(isJson)
      // Anthropic's server tools (web search, code execution, …) have no input schema and no
      // equivalent on a Chat server: dropped (ADR 0124).
      .filter((tool) => isJson(tool['input_schema']))
      .map((tool) => ({
        type: 'function',
        function: {
          name: tool['name'],
          ...(typeof tool['description'] === 'string' ? { description: tool['description'] } : {}),
          parameters: tool['input_schema'],
        },
      }));
    const choice = isJson(body['tool_choice']) ? body['tool_choice'] : null;
    if (tools.length > 0) {
      out['tools'] = tools;
      if (choice?.['type'] === 'any') out['tool_choice'] = 'required';
      else if (choice?.['type'] === 'tool') out['tool_choice'] = { type: 'function', function: { name: choice['name'] } };
      else if (choice?.['type'] === 'none') out['tool_choice'] = 'none';
      if (choice?.['disable_parallel_tool_use'] === true) out['parallel_tool_calls'] = false;
    }
    if (body['stream'] === true) {
      out['stream'] = true;
      out['stream_options'] = { include_usage: true };
    }
    return { path: '/v1/chat/completions', body: out };
  },
  response(upstream, ctx) {
    const choice = asArray(upstream['choices']).find(isJson) ?? {};
    const message = isJson(choice['message']) ? choice['message'] : {};
    const content: Json[] = [];
    const text = asString(message['content']);
    if (text) content.push({ type: 'text', text });
    for (const call of asArray(message['tool_calls']).filter(isJson)) {
      const fn = isJson(call['function']) ? call['function'] : {};
      content.push({
        type: 'tool_use',
        id: asString(call['id']) || randomId('toolu_'),
        name: asString(fn['name']),
        input: parseArguments(asString(fn['arguments'])),
      });
    }
    const hasTools = content.some((b) => b['type'] === 'tool_use');
    return {
      id: messageId(upstream['id']),
      type: 'message',
      role: 'assistant',
      model: ctx.clientModel,
      content,
      // Some servers say `stop` after tool calls; what Claude Code acts on is that it must run them.
      stop_reason: hasTools ? 'tool_use' : stopReasonOf(choice['finish_reason']),
      stop_sequence: null,
      usage: anthropicUsage(upstream['usage']),
    };
  },
  stream(ctx) {
    return chatToAnthropicStream(ctx);
  },
};

const messageId = (id: unknown) => `msg_${asString(id).replace(/^chatcmpl-/, '') || randomId('')}`;

/** An Anthropic message as Chat messages: tool results become `tool` messages, placed first as Chat requires. */
function chatMessages(message: Json): Json[] {
  const role = message['role'];
  const content = message['content'];
  if (role === 'system') return [{ role: 'system', content: textOf(content) }];
  if (typeof content === 'string') return [{ role: role === 'assistant' ? 'assistant' : 'user', content }];
  const blocks = asArray(content).filter(isJson);
  if (role === 'assistant') {
    const text = blocks
      .filter((b) => b['type'] === 'text')
      .map((b) => asString(b['text']))
      .join('');
    const calls = blocks
      .filter((b) => b['type'] === 'tool_use')
      .map((b) => ({ id: b['id'], type: 'function', function: { name: b['name'], arguments: JSON.stringify(b['input'] ?? {}) } }));
    // Thinking blocks are dropped: a Chat server cannot verify their signatures (ADR 0124).
    const out: Json = { role: 'assistant', content: text || null };
    if (calls.length > 0) out['tool_calls'] = calls;
    return text || calls.length > 0 ? [out] : [];
  }
  const tools: Json[] = [];
  const parts: Json[] = [];
  for (const block of blocks) {
    if (block['type'] === 'tool_result') {
      const inner = block['content'];
      const innerBlocks = typeof inner === 'string' ? [{ type: 'text', text: inner }] : asArray(inner).filter(isJson);
      let text = innerBlocks
        .filter((b) => b['type'] === 'text')
        .map((b) => asString(b['text']))
        .join('\n');
      if (block['is_error'] === true) text = `Error: ${text}`;
      tools.push({ role: 'tool', tool_call_id: block['tool_use_id'], content: text });
      // A Chat `tool` message holds text only: a tool's images follow as the user's.
      for (const image of innerBlocks.filter((b) => b['type'] === 'image')) {
        const url = openaiImageUrl(image);
        if (url) parts.push({ type: 'image_url', image_url: { url } });
      }
    } else if (block['type'] === 'text') {
      parts.push({ type: 'text', text: asString(block['text']) });
    } else if (block['type'] === 'image') {
      const url = openaiImageUrl(block);
      if (url) parts.push({ type: 'image_url', image_url: { url } });
    } else if (block['type'] === 'document' && isJson(block['source']) && block['source']['type'] === 'text') {
      parts.push({ type: 'text', text: asString(block['source']['data']) });
    }
  }
  const out = [...tools];
  if (parts.length > 0) {
    // One text stays a string (what every Chat server takes); several stay parts, so the model
    // still sees where Claude Code's reminders end and the user's words begin.
    const single = parts.length === 1 && parts[0]!['type'] === 'text';
    out.push({ role: 'user', content: single ? asString(parts[0]!['text']) : parts });
  }
  return out;
}

/** OpenAI's usage as Anthropic's: cached tokens are counted apart from the input. */
function anthropicUsage(usage: unknown): Json {
  const u = isJson(usage) ? usage : {};
  const details = isJson(u['prompt_tokens_details']) ? u['prompt_tokens_details'] : {};
  const n = (v: unknown) => (typeof v === 'number' && v > 0 ? v : 0);
  const cached = n(details['cached_tokens']);
  return {
    input_tokens: Math.max(0, n(u['prompt_tokens']) - cached),
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
    output_tokens: n(u['completion_tokens']),
  };
}

const sse = (type: string, data: Json) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

/**
 * Chat chunks → Anthropic's event sequence: message_start, then per content block
 * content_block_start / deltas / content_block_stop (text, then each tool call in the order the
 * server streams them: parallel calls are consecutive blocks), then message_delta with the stop
 * reason and the usage (the Chat server sends its counts in the last chunk, after the finish
 * reason, so message_delta waits for it) and message_stop.
 */
function chatToAnthropicStream(ctx: TranslateContext): StreamTranslator {
  const reader = createSseReader();
  let started = false;
  let finished = false;
  let block: { index: number; kind: 'text' | 'tool'; call?: number } | null = null;
  let nextIndex = 0;
  let stopReason: string | null = null;
  let sawTool = false;
  let usage: Json | null = null;
  const toolBlocks = new Map<number, number>();

  const start = (id: unknown) => {
    started = true;
    return (
      sse('message_start', {
        message: {
          id: messageId(id),
          type: 'message',
          role: 'assistant',
          model: ctx.clientModel,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          // The Chat server says its counts at the end; message_delta carries them.
          usage: { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 },
        },
      }) + sse('ping', {})
    );
  };
  const close = () => {
    if (!block) return '';
    const out = sse('content_block_stop', { index: block.index });
    block = null;
    return out;
  };
  const finish = () => {
    if (finished || !started) return '';
    finished = true;
    const reason = sawTool && (stopReason === null || stopReason === 'end_turn') ? 'tool_use' : (stopReason ?? 'end_turn');
    return (
      close() +
      sse('message_delta', { delta: { stop_reason: reason, stop_sequence: null }, usage: usage ?? { output_tokens: 0 } }) +
      sse('message_stop', {})
    );
  };
  const onChunk = (chunk: Json): string => {
    let out = started ? '' : start(chunk['id']);
    if (isJson(chunk['error'])) {
      finished = true;
      return `${out}${sse('error', { error: { type: 'api_error', message: asString(chunk['error']['message']) || 'upstream error' } })}`;
    }
    if (isJson(chunk['usage'])) usage = anthropicUsage(chunk['usage']);
    for (const choice of asArray(chunk['choices']).filter(isJson)) {
      const delta = isJson(choice['delta']) ? choice['delta'] : {};
      const text = asString(delta['content']);
      if (text) {
        if (block?.kind !== 'text') {
          out += close();
          block = { index: nextIndex++, kind: 'text' };
          out += sse('content_block_start', { index: block.index, content_block: { type: 'text', text: '' } });
        }
        out += sse('content_block_delta', { index: block.index, delta: { type: 'text_delta', text } });
      }
      for (const call of asArray(delta['tool_calls']).filter(isJson)) {
        const callIndex = typeof call['index'] === 'number' ? call['index'] : 0;
        const fn = isJson(call['function']) ? call['function'] : {};
        if (!toolBlocks.has(callIndex)) {
          out += close();
          sawTool = true;
          const index = nextIndex++;
          toolBlocks.set(callIndex, index);
          block = { index, kind: 'tool', call: callIndex };
          out += sse('content_block_start', {
            index,
            content_block: { type: 'tool_use', id: asString(call['id']) || randomId('toolu_'), name: asString(fn['name']), input: {} },
          });
        }
        const args = asString(fn['arguments']);
        // Servers stream parallel calls one after another; a piece for a call already closed
        // (interleaved streaming) cannot be placed and is dropped (ADR 0124).
        if (args && block?.kind === 'tool' && block.call === callIndex) {
          out += sse('content_block_delta', { index: block.index, delta: { type: 'input_json_delta', partial_json: args } });
        }
      }
      if (choice['finish_reason']) {
        out += close();
        stopReason = stopReasonOf(choice['finish_reason']);
      }
    }
    // The usage chunk comes last (include_usage); without it, [DONE] or the stream's end finishes.
    if (stopReason !== null && usage !== null) out += finish();
    return out;
  };
  const handle = (events: ReturnType<typeof reader.push>) => {
    let out = '';
    for (const event of events) {
      if (finished) break;
      if (event.data === '[DONE]') {
        out += finish();
        continue;
      }
      const chunk = parseEventData(event.data);
      if (chunk) out += onChunk(chunk);
    }
    return out;
  };
  return {
    push: (text) => handle(reader.push(text)),
    // A stream that ended without a finish reason was cut: it stays cut for the client too.
    end: () => {
      const out = handle(reader.end());
      return stopReason !== null ? out + finish() : out;
    },
  };
}
