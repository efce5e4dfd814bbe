import { createSseReader, parseEventData } from './sse-reader.ts';
import {
  anthropicImage,
  asArray,
  asString,
  finishReasonOf,
  isJson,
  type Json,
  openaiCounts,
  parseArguments,
  randomId,
  type StreamTranslator,
  TranslationError,
  type Translator,
  textOf,
} from './translator.ts';

/**
 * Anthropic requires `max_tokens`; OpenAI clients often leave it out. The default is what every
 * current Claude model can produce (ADR 0124); a client that needs more says so.
 */
export const defaultMaxTokens = 8192;

/**
 * An OpenAI Chat Completions client (Cursor, the OpenAI SDK, Chat-speaking agents) on an
 * Anthropic Provider. ADR 0124 lists what is carried over and what is dropped.
 */
export const chatToAnthropic: Translator = {
  upstreamFormat: 'anthropic',
  request(body, ctx) {
    const n = body['n'];
    if (typeof n === 'number' && n > 1) {
      throw new TranslationError(`This model is served by an Anthropic provider, which answers one choice per request; send n=1.`);
    }
    const system: string[] = [];
    const turns: Json[] = [];
    for (const message of asArray(body['messages']).filter(isJson)) {
      const role = message['role'];
      if (role === 'system' || role === 'developer') system.push(textOf(message['content']));
      else if (role === 'assistant') pushTurn(turns, 'assistant', assistantBlocks(message));
      else if (role === 'tool' || role === 'function') {
        pushTurn(turns, 'user', [
          { type: 'tool_result', tool_use_id: asString(message['tool_call_id']), content: textOf(message['content']) },
        ]);
      } else pushTurn(turns, 'user', userBlocks(message['content']));
    }
    const out: Json = {
      model: ctx.upstreamModel,
      max_tokens: positive(body['max_completion_tokens']) ?? positive(body['max_tokens']) ?? defaultMaxTokens,
      messages: turns,
    };
    const prompt = system.filter(Boolean).join('\n\n');
    if (prompt) out['system'] = prompt;
    // OpenAI's temperature runs to 2, Anthropic's to 1.
    if (typeof body['temperature'] === 'number') out['temperature'] = Math.min(1, Math.max(0, body['temperature']));
    if (typeof body['top_p'] === 'number') out['top_p'] = body['top_p'];
    const stop = body['stop'];
    if (typeof stop === 'string') out['stop_sequences'] = [stop];
    else if (Array.isArray(stop) && stop.length > 0) out['stop_sequences'] = stop.filter((s) => typeof s === 'string');
    const tools = anthropicTools(body['tools']);
    if (tools.length > 0) {
      out['tools'] = tools;
      const choice = anthropicToolChoice(body['tool_choice'], body['parallel_tool_calls']);
      if (choice) out['tool_choice'] = choice;
    }
    if (typeof body['user'] === 'string' && body['user']) out['metadata'] = { user_id: body['user'] };
    if (body['stream'] === true) out['stream'] = true;
    return { path: '/v1/messages', body: out };
  },
  response(upstream, ctx) {
    const content = asArray(upstream['content']).filter(isJson);
    const text = content
      .filter((b) => b['type'] === 'text')
      .map((b) => asString(b['text']))
      .join('');
    const calls = content
      .filter((b) => b['type'] === 'tool_use')
      .map((b) => ({ id: b['id'], type: 'function', function: { name: b['name'], arguments: JSON.stringify(b['input'] ?? {}) } }));
    const message: Json = { role: 'assistant', content: text || null, refusal: null };
    if (calls.length > 0) message['tool_calls'] = calls;
    return {
      id: completionId(upstream['id']),
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: ctx.clientModel,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finishReasonOf(upstream['stop_reason']) }],
      usage: chatUsage(upstream['usage']),
    };
  },
  stream(ctx) {
    return anthropicToChatStream(ctx.clientModel, ctx.includeUsage);
  },
};

const positive = (value: unknown) => (typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : undefined);
const completionId = (id: unknown) => `chatcmpl-${asString(id).replace(/^msg_/, '') || randomId('')}`;

/** Consecutive messages of one role become one Anthropic message (tool results must share the user turn after the calls). */
function pushTurn(turns: Json[], role: 'user' | 'assistant', blocks: Json[]): void {
  if (blocks.length === 0) return;
  const last = turns[turns.length - 1];
  if (last && last['role'] === role) (last['content'] as Json[]).push(...blocks);
  else turns.push({ role, content: blocks });
}

function userBlocks(content: unknown): Json[] {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : [];
  const blocks: Json[] = [];
  for (const part of asArray(content).filter(isJson)) {
    if (part['type'] === 'text' || part['type'] === 'input_text') blocks.push({ type: 'text', text: asString(part['text']) });
    else if (part['type'] === 'image_url') {
      const image = part['image_url'];
      const url = typeof image === 'string' ? image : isJson(image) ? asString(image['url']) : '';
      if (url) blocks.push(anthropicImage(url));
    }
    // Audio and files have no Messages form here: dropped (ADR 0124).
  }
  return blocks;
}

function assistantBlocks(message: Json): Json[] {
  const blocks: Json[] = [];
  const text = textOf(message['content']);
  if (text) blocks.push({ type: 'text', text });
  for (const call of asArray(message['tool_calls']).filter(isJson)) {
    const fn = isJson(call['function']) ? call['function'] : {};
    blocks.push({
      type: 'tool_use',
      id: asString(call['id']) || randomId('toolu_'),
      name: asString(fn['name']),
      input: parseArguments(asString(fn['arguments'])),
    });
  }
  return blocks;
}

/** OpenAI function tools (Chat's nested form or Responses' flat one) as Anthropic tools. */
export function anthropicTools(tools: unknown): Json[] {
  return asArray(tools)
    .filter(isJson)
    .flatMap((tool) => {
      if (tool['type'] !== 'function') return [];
      const fn = isJson(tool['function']) ? tool['function'] : tool;
      const name = asString(fn['name']);
      if (!name) return [];
      const parameters = isJson(fn['parameters']) ? fn['parameters'] : { type: 'object', properties: {} };
      return [{ name, ...(typeof fn['description'] === 'string' ? { description: fn['description'] } : {}), input_schema: parameters }];
    });
}

/** OpenAI's tool_choice and parallel_tool_calls as Anthropic's tool_choice. */
export function anthropicToolChoice(choice: unknown, parallel: unknown): Json | null {
  const disable = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === 'required') return { type: 'any', ...disable };
  if (choice === 'none') return { type: 'none' };
  if (isJson(choice)) {
    const name = isJson(choice['function']) ? choice['function']['name'] : choice['name'];
    if (typeof name === 'string') return { type: 'tool', name, ...disable };
  }
  return parallel === false ? { type: 'auto', ...disable } : null;
}

function chatUsage(usage: unknown): Json {
  const counts = openaiCounts(usage);
  return {
    prompt_tokens: counts.prompt,
    completion_tokens: counts.completion,
    total_tokens: counts.prompt + counts.completion,
    prompt_tokens_details: { cached_tokens: counts.cached },
  };
}

/**
 * Anthropic's events → Chat chunks: the role first, text deltas as `content`, each tool_use
 * block as one `tool_calls` entry (its index counting tool calls, as Chat's does), the stop
 * reason as `finish_reason`, the usage chunk when the client asked for it, then `[DONE]`.
 * Thinking deltas are dropped (ADR 0124).
 */
function anthropicToChatStream(clientModel: string, includeUsage: boolean): StreamTranslator {
  const reader = createSseReader();
  let id = completionId('');
  const created = Math.floor(Date.now() / 1000);
  const usage: Json = {};
  const tools = new Map<number, number>();
  let done = false;
  let finishReason: string | null = null;
  const chunk = (choices: Json[], extra: Json = {}) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: clientModel, choices, ...extra })}\n\n`;
  const delta = (d: Json, finish: string | null = null) => chunk([{ index: 0, delta: d, logprobs: null, finish_reason: finish }]);
  const onEvent = (event: Json): string => {
    switch (event['type']) {
      case 'message_start': {
        const message = isJson(event['message']) ? event['message'] : {};
        id = completionId(message['id']);
        if (isJson(message['usage'])) Object.assign(usage, message['usage']);
        return delta({ role: 'assistant', content: '' });
      }
      case 'content_block_start': {
        const block = isJson(event['content_block']) ? event['content_block'] : {};
        if (block['type'] !== 'tool_use') return '';
        const index = tools.size;
        tools.set(Number(event['index']), index);
        return delta({ tool_calls: [{ index, id: block['id'], type: 'function', function: { name: block['name'], arguments: '' } }] });
      }
      case 'content_block_delta': {
        const d = isJson(event['delta']) ? event['delta'] : {};
        if (d['type'] === 'text_delta') return delta({ content: asString(d['text']) });
        if (d['type'] === 'input_json_delta') {
          const index = tools.get(Number(event['index']));
          if (index === undefined) return '';
          return delta({ tool_calls: [{ index, function: { arguments: asString(d['partial_json']) } }] });
        }
        return '';
      }
      case 'message_delta': {
        const d = isJson(event['delta']) ? event['delta'] : {};
        if (isJson(event['usage'])) {
          for (const [key, value] of Object.entries(event['usage'])) if (value !== null) usage[key] = value;
        }
        finishReason = finishReasonOf(d['stop_reason']);
        return '';
      }
      case 'message_stop': {
        done = true;
        let out = delta({}, finishReason ?? 'stop');
        if (includeUsage) out += chunk([], { usage: chatUsage(usage) });
        return `${out}data: [DONE]\n\n`;
      }
      case 'error': {
        done = true;
        const error = isJson(event['error']) ? event['error'] : {};
        return `data: ${JSON.stringify({ error: { message: asString(error['message']) || 'upstream error', type: asString(error['type']) || 'api_error', param: null, code: null } })}\n\n`;
      }
      default:
        return '';
    }
  };
  const handle = (events: ReturnType<typeof reader.push>) => {
    let out = '';
    for (const event of events) {
      if (done) break;
      const data = parseEventData(event.data);
      if (data) out += onEvent(data);
    }
    return out;
  };
  return { push: (text) => handle(reader.push(text)), end: () => handle(reader.end()) };
}
