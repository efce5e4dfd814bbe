import { anthropicToolChoice, defaultMaxTokens } from './chat-to-anthropic.ts';
import { createSseReader, parseEventData } from './sse-reader.ts';
import {
  anthropicImage,
  asArray,
  asString,
  isJson,
  type Json,
  openaiCounts,
  parseArguments,
  randomId,
  type StreamTranslator,
  type TranslateContext,
  TranslationError,
  type Translator,
  textOf,
} from './translator.ts';

/**
 * An OpenAI Responses client (Codex, over SSE or the WebSocket) on an Anthropic Provider.
 * ADR 0124 lists what is carried over and what is dropped. The Responses API can chain turns
 * on the server (`previous_response_id`); over HTTP the gateway keeps no conversations, so such
 * a request is refused (Codex sends the whole conversation with `store: false`); over the
 * WebSocket the session keeps it (responses-websocket.ts).
 */
export const responsesToAnthropic: Translator = {
  upstreamFormat: 'anthropic',
  request(body, ctx) {
    if (typeof body['previous_response_id'] === 'string' && body['previous_response_id']) {
      throw new TranslationError(
        'This model is served by an Anthropic provider, which keeps no stored responses: send the whole conversation in `input` instead of previous_response_id.',
      );
    }
    return { path: '/v1/messages', body: anthropicRequest(body, ctx, asArray(body['input'])) };
  },
  response(upstream, ctx) {
    const events = createResponsesEvents(ctx);
    // A whole answer is the stream's final response object, built the same way.
    events.push({ type: 'message_start', message: { ...upstream, content: [] } });
    asArray(upstream['content'])
      .filter(isJson)
      .forEach((block, index) => {
        if (block['type'] === 'tool_use') {
          events.push({ type: 'content_block_start', index, content_block: { ...block, input: {} } });
          events.push({
            type: 'content_block_delta',
            index,
            delta: { type: 'input_json_delta', partial_json: JSON.stringify(block['input'] ?? {}) },
          });
        } else {
          events.push({ type: 'content_block_start', index, content_block: { ...block, text: '' } });
          if (block['type'] === 'text')
            events.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: asString(block['text']) } });
        }
        events.push({ type: 'content_block_stop', index });
      });
    events.push({ type: 'message_delta', delta: { stop_reason: upstream['stop_reason'] }, usage: upstream['usage'] ?? {} });
    events.push({ type: 'message_stop' });
    return events.final() ?? {};
  },
  stream(ctx) {
    const reader = createSseReader();
    const events = createResponsesEvents(ctx);
    const handle = (list: ReturnType<typeof reader.push>) => {
      let out = '';
      for (const event of list) {
        const data = parseEventData(event.data);
        if (!data) continue;
        for (const e of events.push(data)) out += `event: ${asString(e['type'])}\ndata: ${JSON.stringify(e)}\n\n`;
      }
      return out;
    };
    return { push: (text) => handle(reader.push(text)), end: () => handle(reader.end()) } satisfies StreamTranslator;
  },
};

/** Codex's freeform tools (`type: "custom"`, e.g. apply_patch) travel to Anthropic as a tool taking one string. */
const customInput = 'input';

/**
 * The Anthropic request for a Responses request whose conversation is `input` (the whole of it:
 * over the WebSocket the session prepends what earlier turns said).
 */
export function anthropicRequest(body: Json, ctx: TranslateContext, input: unknown[] | string): Json {
  const system: string[] = [];
  if (typeof body['instructions'] === 'string' && body['instructions']) system.push(body['instructions']);
  const turns: Json[] = [];
  const tools: Json[] = [];
  const push = (role: 'user' | 'assistant', blocks: Json[]) => {
    if (blocks.length === 0) return;
    const last = turns[turns.length - 1];
    if (last && last['role'] === role) (last['content'] as Json[]).push(...blocks);
    else turns.push({ role, content: blocks });
  };
  const items = typeof input === 'string' ? [{ role: 'user', content: input }] : input;
  for (const item of items.filter(isJson)) {
    const type = item['type'] ?? 'message';
    if (type === 'message') {
      const role = item['role'];
      if (role === 'system' || role === 'developer') system.push(textOf(item['content']));
      else push(role === 'assistant' ? 'assistant' : 'user', contentBlocks(item['content']));
    } else if (type === 'function_call' || type === 'custom_tool_call') {
      const input = type === 'custom_tool_call' ? { [customInput]: asString(item['input']) } : parseArguments(asString(item['arguments']));
      push('assistant', [{ type: 'tool_use', id: toolId(item['call_id']), name: asString(item['name']), input }]);
    } else if (type === 'function_call_output' || type === 'custom_tool_call_output') {
      const output = item['output'];
      const content = typeof output === 'string' ? output : contentBlocks(output);
      push('user', [{ type: 'tool_result', tool_use_id: toolId(item['call_id']), content }]);
    } else if (type === 'additional_tools') {
      tools.push(...anthropicToolsOf(item['tools']));
    }
    // Reasoning items (encrypted for OpenAI's models), web search calls and other
    // server-side items have no Messages form: dropped (ADR 0124).
  }
  tools.unshift(...anthropicToolsOf(body['tools']));
  const out: Json = {
    model: ctx.upstreamModel,
    max_tokens:
      typeof body['max_output_tokens'] === 'number' && body['max_output_tokens'] > 0 ? body['max_output_tokens'] : defaultMaxTokens,
    messages: turns,
  };
  const prompt = system.filter(Boolean).join('\n\n');
  if (prompt) out['system'] = prompt;
  if (typeof body['temperature'] === 'number') out['temperature'] = Math.min(1, Math.max(0, body['temperature']));
  if (typeof body['top_p'] === 'number') out['top_p'] = body['top_p'];
  if (tools.length > 0) {
    out['tools'] = tools;
    const choice = anthropicToolChoice(body['tool_choice'], body['parallel_tool_calls']);
    if (choice) out['tool_choice'] = choice;
  }
  if (body['stream'] === true) out['stream'] = true;
  return out;
}

/** Anthropic ids must match ^[a-zA-Z0-9_-]+$; Responses call ids do, but keep any other safe. */
const toolId = (id: unknown) => asString(id).replace(/[^a-zA-Z0-9_-]/g, '_') || randomId('call_');

function contentBlocks(content: unknown): Json[] {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : [];
  const blocks: Json[] = [];
  for (const part of asArray(content).filter(isJson)) {
    const type = part['type'];
    if (type === 'input_text' || type === 'output_text' || type === 'text') {
      const text = asString(part['text']);
      if (text) blocks.push({ type: 'text', text });
    } else if (type === 'input_image') {
      const url = asString(part['image_url']);
      if (url) blocks.push(anthropicImage(url));
    }
    // Refusals, files by id and audio are dropped (ADR 0124).
  }
  return blocks;
}

/** Responses tools as Anthropic tools: functions as they are, freeform (`custom`) ones as a tool taking one string. */
function anthropicToolsOf(tools: unknown): Json[] {
  return asArray(tools)
    .filter(isJson)
    .flatMap((tool): Json[] => {
      const name = asString(tool['name']);
      // Namespaced tools (Codex's multi-agent set) are called back by namespace and name, which
      // an Anthropic tool name cannot carry: not offered (ADR 0124).
      if (tool['type'] === 'namespace') return [];
      if (tool['type'] === 'function' && name) {
        const parameters = isJson(tool['parameters']) ? tool['parameters'] : { type: 'object', properties: {} };
        return [
          { name, ...(typeof tool['description'] === 'string' ? { description: tool['description'] } : {}), input_schema: parameters },
        ];
      }
      if (tool['type'] === 'custom' && name) {
        const format = isJson(tool['format']) ? tool['format'] : {};
        const grammar =
          typeof format['definition'] === 'string'
            ? `\n\nThe input follows this ${asString(format['syntax']) || 'grammar'}:\n${format['definition']}`
            : '';
        return [
          {
            name,
            description: `${asString(tool['description'])}${grammar}`,
            input_schema: {
              type: 'object',
              properties: { [customInput]: { type: 'string', description: 'The raw input for this tool.' } },
              required: [customInput],
            },
          },
        ];
      }
      // Built-in tools (web_search, local_shell, image_generation, …) run on OpenAI's side only.
      return [];
    });
}

/** The names of the request's freeform tools, whose calls go back as custom_tool_call items. */
function customToolNames(body: Json | undefined): Set<string> {
  const names = new Set<string>();
  const walk = (tools: unknown) => {
    for (const tool of asArray(tools).filter(isJson)) {
      if (tool['type'] === 'custom') names.add(asString(tool['name']));
    }
  };
  walk(body?.['tools']);
  for (const item of asArray(body?.['input']).filter(isJson)) if (item['type'] === 'additional_tools') walk(item['tools']);
  return names;
}

export type ResponsesEvents = {
  /** The Responses events one Anthropic event becomes (none, one or several). */
  push(event: Json): Json[];
  /** The finished response (after message_stop), or null. */
  final(): Json | null;
  /** The conversation items this response produced (for the WebSocket's session state). */
  outputItems(): Json[];
};

/**
 * Anthropic's stream events → the Responses API's: response.created / in_progress on
 * message_start; per text block a `message` item (output_item.added, content_part.added,
 * output_text.delta…, output_text.done, content_part.done, output_item.done); per tool_use block
 * a `function_call` item (or `custom_tool_call` for a freeform tool) with its argument deltas;
 * message_stop → response.completed (response.incomplete when the output hit max_tokens) with the
 * usage in the Responses shape. Thinking blocks are dropped (ADR 0124).
 */
export function createResponsesEvents(ctx: TranslateContext & { clientBody?: Json }): ResponsesEvents {
  const custom = customToolNames(ctx.clientBody);
  const responseId = randomId('resp_');
  const createdAt = Math.floor(Date.now() / 1000);
  let sequence = 0;
  const output: Json[] = [];
  const blocks = new Map<number, { item: Json; outputIndex: number; text: string; args: string }>();
  const usage: Json = {};
  let stopReason: unknown = null;
  let final: Json | null = null;
  const body = ctx.clientBody ?? {};
  const response = (status: string, extra: Json = {}) => ({
    id: responseId,
    object: 'response',
    created_at: createdAt,
    status,
    model: ctx.clientModel,
    instructions: body['instructions'] ?? null,
    previous_response_id: body['previous_response_id'] ?? null,
    store: body['store'] ?? false,
    tools: body['tools'] ?? [],
    tool_choice: body['tool_choice'] ?? 'auto',
    parallel_tool_calls: body['parallel_tool_calls'] ?? true,
    output: [...output],
    usage: null,
    ...extra,
  });
  const ev = (type: string, data: Json): Json => ({ type, sequence_number: sequence++, ...data });
  return {
    final: () => final,
    outputItems: () => output,
    push(event) {
      switch (event['type']) {
        case 'message_start': {
          const message = isJson(event['message']) ? event['message'] : {};
          if (isJson(message['usage'])) Object.assign(usage, message['usage']);
          return [
            ev('response.created', { response: response('in_progress') }),
            ev('response.in_progress', { response: response('in_progress') }),
          ];
        }
        case 'content_block_start': {
          const block = isJson(event['content_block']) ? event['content_block'] : {};
          const outputIndex = output.length;
          let item: Json;
          if (block['type'] === 'text') {
            item = { id: randomId('msg_'), type: 'message', status: 'in_progress', role: 'assistant', content: [] };
          } else if (block['type'] === 'tool_use') {
            const name = asString(block['name']);
            item = custom.has(name)
              ? { id: randomId('ctc_'), type: 'custom_tool_call', status: 'in_progress', call_id: block['id'], name, input: '' }
              : { id: randomId('fc_'), type: 'function_call', status: 'in_progress', call_id: block['id'], name, arguments: '' };
          } else return [];
          blocks.set(Number(event['index']), { item, outputIndex, text: '', args: '' });
          output.push(item);
          const added = ev('response.output_item.added', { output_index: outputIndex, item: { ...item } });
          if (item['type'] !== 'message') return [added];
          return [
            added,
            ev('response.content_part.added', {
              item_id: item['id'],
              output_index: outputIndex,
              content_index: 0,
              part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
            }),
          ];
        }
        case 'content_block_delta': {
          const open = blocks.get(Number(event['index']));
          const delta = isJson(event['delta']) ? event['delta'] : {};
          if (!open) return [];
          const itemId = open.item['id'];
          if (delta['type'] === 'text_delta') {
            const text = asString(delta['text']);
            open.text += text;
            return [
              ev('response.output_text.delta', {
                item_id: itemId,
                output_index: open.outputIndex,
                content_index: 0,
                delta: text,
                logprobs: [],
              }),
            ];
          }
          if (delta['type'] === 'input_json_delta') {
            const piece = asString(delta['partial_json']);
            open.args += piece;
            // A freeform tool's input is the string inside {"input": …}: known only when whole.
            if (open.item['type'] === 'custom_tool_call') return [];
            return [ev('response.function_call_arguments.delta', { item_id: itemId, output_index: open.outputIndex, delta: piece })];
          }
          return [];
        }
        case 'content_block_stop': {
          const index = Number(event['index']);
          const open = blocks.get(index);
          if (!open) return [];
          blocks.delete(index);
          const { item, outputIndex } = open;
          const done: Json[] = [];
          if (item['type'] === 'message') {
            const part = { type: 'output_text', text: open.text, annotations: [], logprobs: [] };
            item['content'] = [part];
            done.push(
              ev('response.output_text.done', {
                item_id: item['id'],
                output_index: outputIndex,
                content_index: 0,
                text: open.text,
                logprobs: [],
              }),
              ev('response.content_part.done', { item_id: item['id'], output_index: outputIndex, content_index: 0, part }),
            );
          } else if (item['type'] === 'custom_tool_call') {
            const input = asString(parseArguments(open.args)[customInput]) || open.args;
            item['input'] = input;
            done.push(
              ev('response.custom_tool_call_input.delta', { item_id: item['id'], output_index: outputIndex, delta: input }),
              ev('response.custom_tool_call_input.done', { item_id: item['id'], output_index: outputIndex, input }),
            );
          } else {
            const args = open.args || '{}';
            item['arguments'] = args;
            done.push(ev('response.function_call_arguments.done', { item_id: item['id'], output_index: outputIndex, arguments: args }));
          }
          item['status'] = 'completed';
          done.push(ev('response.output_item.done', { output_index: outputIndex, item: { ...item } }));
          return done;
        }
        case 'message_delta': {
          const delta = isJson(event['delta']) ? event['delta'] : {};
          if (delta['stop_reason'] !== undefined) stopReason = delta['stop_reason'];
          if (isJson(event['usage'])) {
            for (const [key, value] of Object.entries(event['usage'])) if (value !== null) usage[key] = value;
          }
          return [];
        }
        case 'message_stop': {
          const counts = openaiCounts(usage);
          const incomplete = stopReason === 'max_tokens' || stopReason === 'model_context_window_exceeded';
          final = response(incomplete ? 'incomplete' : 'completed', {
            incomplete_details: incomplete ? { reason: 'max_output_tokens' } : null,
            usage: {
              input_tokens: counts.prompt,
              input_tokens_details: { cached_tokens: counts.cached },
              output_tokens: counts.completion,
              output_tokens_details: { reasoning_tokens: 0 },
              total_tokens: counts.prompt + counts.completion,
            },
          });
          return [ev(incomplete ? 'response.incomplete' : 'response.completed', { response: final })];
        }
        case 'error': {
          const error = isJson(event['error']) ? event['error'] : {};
          final = response('failed', { error: { code: 'server_error', message: asString(error['message']) || 'upstream error' } });
          return [ev('response.failed', { response: final })];
        }
        default:
          return [];
      }
    },
  };
}
