import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { WebSocketServer } from 'ws';

/**
 * A project-owned stand-in for the Anthropic and OpenAI APIs (DESIGN §7). It speaks their wire
 * formats byte for byte (SSE with `event:` lines, usage blocks with cache tokens, tool calls,
 * errors with `retry-after`) so the official SDKs, Claude Code and the gateway run against it
 * unchanged, and it records what it received so tests can assert what the gateway forwarded.
 *
 * Behaviour is steered per request, without touching the client:
 * - headers `x-fake-status` (error status), `x-fake-latency-ms`, `x-fake-output-tokens`,
 *   `x-fake-cache-read-tokens`, `x-fake-cache-write-tokens`;
 * - header `x-fake-fault` makes it misbehave as real upstreams do (the fault suite):
 *   `hang` (never answers), `hang-mid-stream` (SSE headers and one event, then silence),
 *   `reset-mid-stream` (one event, then a TCP reset), `garbage` (200 with bytes that are not
 *   JSON), `garbage-stream` (SSE headers, then random bytes), `huge-line` (an Anthropic stream
 *   whose one delta line is `x-fake-line-bytes` long, default 10 MB, then the usual usage events);
 * - when the request offers a shell tool (Claude Code's `Bash`, Codex's `exec_command` or
 *   `shell`, or Codex's code-mode `exec`, which takes a script calling `tools.exec_command`) and
 *   the user's prompt asks for an action as a person would ("run ls and count the files", "run
 *   `git status`", "list the files"), the model calls that tool with the command, and answers
 *   the tool's output in kind ("There are 3 files: …");
 * - a user message containing `CALL_TOOL:<name>:<json input>` makes the model call that tool
 *   (a `tool_use` block, a chat `tool_calls` entry, or a Responses `function_call` item); a final
 *   `tool_result`, `role: "tool"` message or `function_call_output` item makes it answer with
 *   what the tool said.
 */
export type RecordedRequest = {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The body bytes exactly as received (still gzip-compressed if the sender compressed). */
  body: Buffer;
  /** The decoded JSON body, when it was JSON. */
  json: unknown;
};

export type FakeProvider = {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Messages received over the Responses WebSocket. */
  websocketMessages: unknown[];
  close(): Promise<void>;
};

export type FakeProviderOptions = {
  port?: number;
  /** Address to listen on (default 127.0.0.1); pods on a test bed node reach the host's node-side address. */
  host?: string;
  /** Delay before answering (and between stream events, divided by the number of events). */
  latencyMs?: number;
  /** Keep request records (tests); benches turn it off. */
  record?: boolean;
  /** Fixed reply text; default "Hello from the fake provider." */
  text?: string;
};

type Json = Record<string, unknown>;

const defaultText = 'Hello from the fake provider.';

/** Starts the fake provider on 127.0.0.1 (a random port unless given). */
export async function startFakeProvider(options: FakeProviderOptions = {}): Promise<FakeProvider> {
  const requests: RecordedRequest[] = [];
  const websocketMessages: unknown[] = [];
  const record = options.record ?? true;
  const server: Server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      let json: unknown = null;
      try {
        const plain = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
        json = plain.length > 0 ? JSON.parse(plain.toString('utf8')) : null;
      } catch {
        json = null;
      }
      if (record) requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body, json });
      const latency = Number(req.headers['x-fake-latency-ms'] ?? options.latencyMs ?? 0);
      const respond = () => route(req, res, json as Json | null, options.text ?? defaultText, latency);
      if (latency > 0) setTimeout(respond, latency);
      else respond();
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    if (!(req.url ?? '').startsWith('/v1/responses')) {
      socket.destroy();
      return;
    }
    if (record) requests.push({ method: 'GET', url: req.url ?? '/', headers: req.headers, body: Buffer.alloc(0), json: null });
    wss.handleUpgrade(req, socket, head, (ws) => {
      const earlier: Json[] = [];
      ws.on('message', (data) => {
        let message: Json;
        try {
          message = JSON.parse(String(data)) as Json;
        } catch {
          ws.send(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'not JSON' } }));
          return;
        }
        websocketMessages.push(message);
        if (message['type'] !== 'response.create') return;
        // Steering for the gateway's tests: `metadata.fake` "reject" answers the create with an
        // `error` event (no response started), "fail" with response.created then response.failed.
        const fake = (message['metadata'] as Json | undefined)?.['fake'];
        if (fake === 'reject') {
          ws.send(
            JSON.stringify({
              type: 'error',
              status: 400,
              error: { type: 'invalid_request_error', code: 'previous_response_not_found', message: 'Previous response not found.' },
            }),
          );
          return;
        }
        // Codex's warm-up (`generate: false`) gets a completed response with no output.
        const events = responsesEvents(message, options.text ?? defaultText, req.headers, message['generate'] !== false, earlier);
        if (Array.isArray(message['input'])) earlier.push(...(message['input'] as Json[]));
        if (fake === 'fail') {
          const created = events[0]!;
          const id = (created['response'] as Json)['id'];
          ws.send(JSON.stringify(created));
          ws.send(
            JSON.stringify({
              type: 'response.failed',
              sequence_number: 1,
              response: {
                ...(created['response'] as Json),
                id,
                status: 'failed',
                error: { code: 'server_error', message: 'fake failure' },
                usage: null,
              },
            }),
          );
          return;
        }
        // x-fake-latency-ms on the upgrade spreads each turn's events over that time.
        const latency = Number(req.headers['x-fake-latency-ms'] ?? 0);
        if (latency <= 0) {
          for (const event of events) ws.send(JSON.stringify(event));
          return;
        }
        const step = Math.max(1, Math.floor(latency / events.length));
        let i = 0;
        const next = () => {
          if (ws.readyState !== ws.OPEN) return;
          ws.send(JSON.stringify(events[i++]));
          if (i < events.length) setTimeout(next, step);
        };
        next();
      });
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    port,
    requests,
    websocketMessages,
    async close() {
      for (const client of wss.clients) client.terminate();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function route(req: IncomingMessage, res: ServerResponse, body: Json | null, text: string, latency: number): void {
  const path = (req.url ?? '/').split('?')[0]!;
  const anthropic = path.startsWith('/v1/messages');
  const status = Number(req.headers['x-fake-status'] ?? 0);
  const fault = req.headers['x-fake-fault'];
  if (typeof fault === 'string' && fault) {
    misbehave(req, res, fault, body);
    return;
  }
  if (status >= 400) {
    sendError(res, anthropic, status);
    return;
  }
  if (req.method === 'GET' && path === '/v1/models') {
    sendJson(res, 200, { object: 'list', data: [{ id: 'gpt-fake', object: 'model', created: 1_700_000_000, owned_by: 'fake' }] });
    return;
  }
  if (req.method !== 'POST' || !body) {
    sendError(res, anthropic, 404);
    return;
  }
  if (path === '/v1/messages/count_tokens') {
    sendJson(res, 200, { input_tokens: countInputTokens(body) });
    return;
  }
  if (path === '/v1/messages') {
    anthropicMessages(req, res, body, text, latency);
    return;
  }
  if (path === '/v1/chat/completions') {
    chatCompletions(req, res, body, text, latency);
    return;
  }
  if (path === '/v1/responses') {
    const events = responsesEvents(body, text, req.headers);
    if (body['stream'] === true) {
      writeSse(
        res,
        events.map((event) => `event: ${event['type'] as string}\ndata: ${JSON.stringify(event)}\n\n`),
        latency,
      );
    } else {
      const completed = events[events.length - 1]!;
      sendJson(res, 200, completed['response']);
    }
    return;
  }
  sendError(res, anthropic, 404);
}

/** Rough token count: a quarter of the characters of every string in the request. */
export function countInputTokens(body: unknown): number {
  let chars = 0;
  const walk = (value: unknown): void => {
    if (typeof value === 'string') chars += value.length;
    else if (Array.isArray(value)) for (const item of value) walk(item);
    else if (value && typeof value === 'object') for (const item of Object.values(value)) walk(item);
  };
  walk((body as Json)['messages'] ?? (body as Json)['input']);
  walk((body as Json)['system']);
  return Math.max(1, Math.ceil(chars / 4));
}

function usageNumbers(headers: IncomingHttpHeaders, body: Json, text: string) {
  const maxTokens = Number(body['max_tokens'] ?? body['max_completion_tokens'] ?? body['max_output_tokens'] ?? 1e9);
  const wanted = headers['x-fake-output-tokens'] ? Number(headers['x-fake-output-tokens']) : Math.ceil(text.length / 4);
  return {
    input: countInputTokens(body),
    output: Math.min(wanted, maxTokens),
    cacheRead: Number(headers['x-fake-cache-read-tokens'] ?? 0),
    cacheWrite: Number(headers['x-fake-cache-write-tokens'] ?? 0),
  };
}

/** A tool call; `custom` is a Responses custom (freeform) tool whose input is text, not JSON. */
type ToolCall = { name: string; input: unknown; custom?: true };

/** The tool the last user turn asks for, if the request offers it and has not answered it yet. */
function requestedToolCall(body: Json): ToolCall | null {
  return requestedToolCalls(body)[0] ?? null;
}

/**
 * Every tool the last user turn asks for: several `CALL_TOOL:` markers (each followed by the next
 * or by the end of the text) make parallel tool calls, as a model calling two tools at once.
 */
function requestedToolCalls(body: Json): ToolCall[] {
  const last = lastTurn(body);
  const content = last?.['content'];
  const blocks = Array.isArray(content) ? (content as Json[]) : [{ type: 'text', text: content }];
  if (last?.['role'] === 'tool' || last?.['type'] === 'function_call_output' || last?.['type'] === 'custom_tool_call_output') return [];
  const calls: ToolCall[] = [];
  for (const block of blocks) {
    if (block['type'] === 'tool_result') return [];
    const value = typeof block['text'] === 'string' ? block['text'] : '';
    for (const match of value.matchAll(/CALL_TOOL:([A-Za-z0-9_-]+):(\{.*?\})(?=\s*(?:CALL_TOOL:|$))/gs)) {
      try {
        calls.push({ name: match[1]!, input: JSON.parse(match[2]!) });
      } catch {
        return [];
      }
    }
  }
  if (calls.length > 1) return calls;
  const one = singleToolCall(body);
  return one ? [one] : [];
}

function singleToolCall(body: Json): ToolCall | null {
  const last = lastTurn(body);
  if (!last) return null;
  const content = last['content'];
  const blocks = Array.isArray(content) ? (content as Json[]) : [{ type: 'text', text: content }];
  if (
    blocks.some((block) => block['type'] === 'tool_result') ||
    last['role'] === 'tool' ||
    last['type'] === 'function_call_output' ||
    last['type'] === 'custom_tool_call_output'
  ) {
    return null;
  }
  for (const block of blocks) {
    const value = typeof block['text'] === 'string' ? block['text'] : '';
    const match = /CALL_TOOL:([A-Za-z0-9_-]+):(\{.*\})/s.exec(value);
    if (match) {
      try {
        return { name: match[1]!, input: JSON.parse(match[2]!) };
      } catch {
        return null;
      }
    }
  }
  return shellCallFor(body);
}

// The shell tools agents offer and the input each takes: Claude Code's Bash, Codex's
// exec_command (and its older shell), and the generic names other agents use.
const shellTools: Record<string, (command: string) => Json> = {
  bash: (command) => ({ command, description: `Run ${command}` }),
  exec_command: (cmd) => ({ cmd }),
  shell: (command) => ({ command: ['bash', '-lc', command] }),
  run_command: (command) => ({ command }),
  execute_command: (command) => ({ command }),
  run_terminal_cmd: (command) => ({ command, is_background: false }),
};

/**
 * The tools a request offers, in any of the three wire formats, plus those Codex sends as an
 * `additional_tools` input item (namespaces of tools, e.g. its code-mode `exec`).
 */
function offeredTools(body: Json): { name: string; custom: boolean; description: string }[] {
  const flatten = (tools: unknown): { name: string; custom: boolean; description: string }[] =>
    Array.isArray(tools)
      ? (tools as Json[]).flatMap((tool) => {
          if (tool['type'] === 'namespace') return flatten(tool['tools']);
          const name = tool['name'] ?? (tool['function'] as Json | undefined)?.['name'];
          return typeof name === 'string'
            ? [{ name, custom: tool['type'] === 'custom', description: String(tool['description'] ?? '') }]
            : [];
        })
      : [];
  const input = body['input'];
  const additional = Array.isArray(input) ? (input as Json[]).filter((item) => item['type'] === 'additional_tools') : [];
  return [...flatten(body['tools']), ...additional.flatMap((item) => flatten(item['tools']))];
}

/**
 * The user's own words in the last user message (Anthropic `text` blocks, chat strings,
 * Responses `input_text` parts), skipping what agents wrap around them (`<system-reminder>`,
 * `<environment_context>`, AGENTS.md instructions).
 */
function userAsk(body: Json): string | null {
  const messages = body['messages'] ?? body['input'];
  if (typeof messages === 'string') return messages;
  if (!Array.isArray(messages)) return null;
  for (let i = messages.length - 1; i >= 0; i--) {
    const item = messages[i] as Json;
    if (item['role'] !== 'user') continue;
    const content = item['content'];
    const texts = typeof content === 'string' ? [content] : Array.isArray(content) ? (content as Json[]).map((b) => b['text']) : [];
    const own = texts.filter((t): t is string => typeof t === 'string' && !/^\s*(<|# AGENTS\.md)/.test(t));
    if (own.length > 0) return own.at(-1)!.trim();
    // A user message of tool results only: keep looking for what was asked.
  }
  return null;
}

/**
 * What shell command an imperative prompt asks for, like a model would pick it: a command in
 * backticks, "run <command>", or a request to list or count the files (ls).
 */
export function commandFor(ask: string): string | null {
  const quoted = /`([^`]+)`/.exec(ask);
  if (quoted && /^\s*(please\s+)?(run|execute|use)\b/i.test(ask)) return quoted[1]!.trim();
  const run = /^\s*(?:please\s+)?(?:run|execute)\s+(.+?)(?:\s+and\s+.*|\s*[.!?]\s*)?$/is.exec(ask);
  if (run) return run[1]!.replace(/^(the\s+)?(command\s+)?["']?|["']?$/g, '').trim() || null;
  if (/^\s*(?:please\s+)?(?:list|count|show)\b.*\bfiles?\b/is.test(ask) || /^\s*how many files\b/i.test(ask)) return 'ls';
  return null;
}

/**
 * A shell tool call when the request offers a shell tool and the user asks for an action. Codex
 * with its newer models offers only `exec`, a freeform tool that runs JavaScript calling its
 * nested tools; the model then writes a script calling `tools.exec_command`.
 */
function shellCallFor(body: Json): ToolCall | null {
  const offered = offeredTools(body);
  const tool = offered.find((t) => !t.custom && shellTools[t.name.toLowerCase()]);
  const codeMode = offered.find((t) => t.custom && t.name === 'exec' && t.description.includes('tools.exec_command'));
  if (!tool && !codeMode) return null;
  const ask = userAsk(body);
  const command = ask === null ? null : commandFor(ask);
  if (!command) return null;
  if (tool) return { name: tool.name, input: shellTools[tool.name.toLowerCase()]!(command) };
  return { name: 'exec', custom: true, input: `const r = await tools.exec_command({ cmd: ${JSON.stringify(command)} });\ntext(r.output);` };
}

/** What a model would say about a shell command's output, given what the user asked. */
function shellReply(ask: string, output: string): string {
  // Claude Code and Codex may wrap the output (exit code, timings); the listing is the lines
  // that look like names.
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(
      (l) => l && !/^(Exit code|Wall time|Output:|Process exited|Chunk ID|Original token count|Script (completed|failed|running))/i.test(l),
    );
  if (/\b(count|how many)\b/i.test(ask)) {
    return `There ${lines.length === 1 ? 'is 1 file' : `are ${lines.length} files`}: ${lines.slice(0, 20).join(', ')}${lines.length > 20 ? ', …' : ''}.`;
  }
  return `The command printed:\n${output.slice(0, 2000)}`;
}

/**
 * The last turn of `messages` (Anthropic, chat) or `input` (Responses): a message or a tool
 * result, passing over mid-conversation `role: "system"` notes (Claude Code sends those) and
 * Responses items that are neither (the model's own `function_call` and `reasoning` items,
 * Codex's non-standard ones).
 */
function lastTurn(body: Json): Json | undefined {
  const messages = body['messages'] ?? body['input'];
  if (!Array.isArray(messages)) return undefined;
  for (let i = messages.length - 1; i >= 0; i--) {
    const item = messages[i] as Json;
    const type = item['type'];
    if (item['role'] === 'system') continue;
    if (type === undefined || type === 'message' || type === 'function_call_output' || type === 'custom_tool_call_output') return item;
  }
  return undefined;
}

function toolResultText(body: Json): string | null {
  const last = lastTurn(body);
  if (!last) return null;
  if (last['role'] === 'tool') {
    // Parallel calls answer as consecutive tool messages: the model reads them all.
    const messages = body['messages'] as Json[];
    let first = messages.length - 1;
    while (first > 0 && messages[first - 1]!['role'] === 'tool') first--;
    return messages
      .slice(first)
      .map((m) => String(m['content']))
      .join(' | ');
  }
  if (last['type'] === 'function_call_output' || last['type'] === 'custom_tool_call_output') {
    const output = last['output'];
    // A Responses tool output is a string or a list of content parts.
    return Array.isArray(output) ? (output as Json[]).map((part) => String(part['text'] ?? '')).join('') : String(output ?? '');
  }
  const content = last['content'];
  if (!Array.isArray(content)) return null;
  const results = (content as Json[]).filter((block) => block['type'] === 'tool_result');
  if (results.length === 0) return null;
  const textOf = (inner: unknown) =>
    typeof inner === 'string' ? inner : Array.isArray(inner) ? (inner as Json[]).map((part) => String(part['text'] ?? '')).join('') : '';
  return results.map((result) => textOf(result['content'])).join(' | ');
}

/**
 * What the model says: about the tool's output when the last turn is a tool result ("The tool
 * said: …" for a CALL_TOOL prompt, an answer to the user's ask for a shell command), else `text`.
 */
function replyFor(body: Json, text: string): string {
  const toolResult = toolResultText(body);
  if (toolResult === null) return text;
  const ask = userAsk(body);
  if (ask === null || ask.includes('CALL_TOOL:') || commandFor(ask) === null) return `The tool said: ${toolResult.slice(0, 200)}`;
  return shellReply(ask, toolResult);
}

function id(prefix: string): string {
  return `${prefix}${randomBytes(12).toString('hex')}`;
}

function anthropicMessages(req: IncomingMessage, res: ServerResponse, body: Json, text: string, latency: number): void {
  const replyText = replyFor(body, text);
  const calls = requestedToolCalls(body);
  const call = calls[0];
  const usage = usageNumbers(req.headers, body, replyText);
  const messageId = id('msg_');
  const model = String(body['model']);
  const stopReason = call ? 'tool_use' : 'end_turn';
  const toolIds = calls.map(() => id('toolu_'));
  if (body['stream'] !== true) {
    const content: Json[] = [{ type: 'text', text: call ? 'Let me use a tool.' : replyText }];
    calls.forEach((c, i) => {
      content.push({ type: 'tool_use', id: toolIds[i], name: c.name, input: c.input });
    });
    sendJson(res, 200, {
      id: messageId,
      type: 'message',
      role: 'assistant',
      model,
      content,
      stop_reason: stopReason,
      stop_sequence: null,
      usage: {
        input_tokens: usage.input,
        cache_creation_input_tokens: usage.cacheWrite,
        cache_read_input_tokens: usage.cacheRead,
        output_tokens: usage.output,
        service_tier: 'standard',
      },
    });
    return;
  }
  const event = (type: string, data: Json) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const events = [
    event('message_start', {
      message: {
        id: messageId,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: usage.input,
          cache_creation_input_tokens: usage.cacheWrite,
          cache_read_input_tokens: usage.cacheRead,
          output_tokens: 1,
          service_tier: 'standard',
        },
      },
    }),
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    // The real API sends `{"type": "ping"}` with a space; keep it to stay byte-faithful.
    'event: ping\ndata: {"type": "ping"}\n\n',
  ];
  const shown = call ? 'Let me use a tool.' : replyText;
  for (const piece of shown.match(/.{1,12}/gs) ?? []) {
    events.push(event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: piece } }));
  }
  events.push(event('content_block_stop', { index: 0 }));
  calls.forEach((c, i) => {
    const index = i + 1;
    events.push(event('content_block_start', { index, content_block: { type: 'tool_use', id: toolIds[i], name: c.name, input: {} } }));
    const json = JSON.stringify(c.input);
    for (const piece of json.match(/.{1,16}/gs) ?? []) {
      events.push(event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } }));
    }
    events.push(event('content_block_stop', { index }));
  });
  events.push(
    event('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: usage.output } }),
    event('message_stop', {}),
  );
  writeSse(res, events, latency);
}

function chatCompletions(req: IncomingMessage, res: ServerResponse, body: Json, text: string, latency: number): void {
  const replyText = replyFor(body, text);
  const calls = requestedToolCalls(body);
  const call = calls[0];
  const usage = usageNumbers(req.headers, body, replyText);
  const completionId = id('chatcmpl-');
  const created = Math.floor(Date.now() / 1000);
  const model = String(body['model']);
  const usageJson = {
    prompt_tokens: usage.input + usage.cacheRead,
    completion_tokens: usage.output,
    total_tokens: usage.input + usage.cacheRead + usage.output,
    prompt_tokens_details: { cached_tokens: usage.cacheRead, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
  const callIds = calls.map(() => id('call_'));
  if (body['stream'] !== true) {
    const message: Json = { role: 'assistant', content: call ? null : replyText, refusal: null, annotations: [] };
    if (call)
      message['tool_calls'] = calls.map((c, i) => ({
        id: callIds[i],
        type: 'function',
        function: { name: c.name, arguments: JSON.stringify(c.input) },
      }));
    sendJson(res, 200, {
      id: completionId,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: call ? 'tool_calls' : 'stop' }],
      usage: usageJson,
      service_tier: 'default',
      system_fingerprint: 'fp_fake',
    });
    return;
  }
  const includeUsage = (body['stream_options'] as Json | undefined)?.['include_usage'] === true;
  const chunk = (choices: Json[], extra: Json = {}) => {
    const value: Json = {
      id: completionId,
      object: 'chat.completion.chunk',
      created,
      model,
      service_tier: 'default',
      system_fingerprint: 'fp_fake',
      choices,
    };
    // With include_usage the real API puts "usage":null on every chunk but the last.
    if (includeUsage) value['usage'] = null;
    return `data: ${JSON.stringify({ ...value, ...extra })}\n\n`;
  };
  const events = [chunk([{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }])];
  if (call) {
    // Parallel calls stream one after another, each under its own index, as OpenAI's do.
    calls.forEach((c, index) => {
      events.push(
        chunk([
          {
            index: 0,
            delta: { tool_calls: [{ index, id: callIds[index], type: 'function', function: { name: c.name, arguments: '' } }] },
            logprobs: null,
            finish_reason: null,
          },
        ]),
      );
      for (const piece of JSON.stringify(c.input).match(/.{1,16}/gs) ?? []) {
        events.push(
          chunk([{ index: 0, delta: { tool_calls: [{ index, function: { arguments: piece } }] }, logprobs: null, finish_reason: null }]),
        );
      }
    });
  } else {
    for (const piece of replyText.match(/.{1,12}/gs) ?? []) {
      events.push(chunk([{ index: 0, delta: { content: piece }, logprobs: null, finish_reason: null }]));
    }
  }
  events.push(chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: call ? 'tool_calls' : 'stop' }]));
  if (includeUsage) events.push(chunk([], { usage: usageJson }));
  events.push('data: [DONE]\n\n');
  writeSse(res, events, latency);
}

/**
 * The Responses API event sequence for one turn; the last event is `response.completed`. The
 * output is one item: a `message` with the reply text, or a `function_call` when the last turn
 * asks for a tool, or none when `generate` is false (Codex's warm-up).
 */
function responsesEvents(body: Json, text: string, headers: IncomingHttpHeaders, generate = true, earlier: Json[] = []): Json[] {
  // Over the WebSocket a turn carries only what is new (previous_response_id chains it): what
  // the user asked is in the connection's earlier turns.
  const context =
    earlier.length > 0 && Array.isArray(body['input']) ? { ...body, input: [...earlier, ...(body['input'] as Json[])] } : body;
  const call = generate ? requestedToolCall(context) : null;
  const replyText = generate && !call ? replyFor(context, text) : '';
  const callArguments = call ? (call.custom ? String(call.input) : JSON.stringify(call.input)) : '';
  const usage = usageNumbers(headers, body, call ? callArguments : replyText);
  const responseId = id('resp_');
  const createdAt = Math.floor(Date.now() / 1000);
  const base = {
    id: responseId,
    object: 'response',
    created_at: createdAt,
    model: String(body['model']),
    instructions: body['instructions'] ?? null,
    previous_response_id: body['previous_response_id'] ?? null,
    store: body['store'] ?? true,
    tools: body['tools'] ?? [],
    usage: null,
  };
  let sequence = 0;
  const events: Json[] = [
    { type: 'response.created', sequence_number: sequence++, response: { ...base, status: 'in_progress', output: [] } },
    { type: 'response.in_progress', sequence_number: sequence++, response: { ...base, status: 'in_progress', output: [] } },
  ];
  let outputItem: Json | null = null;
  if (call?.custom) {
    const itemId = id('ctc_');
    outputItem = { id: itemId, type: 'custom_tool_call', status: 'completed', call_id: id('call_'), name: call.name, input: callArguments };
    events.push({
      type: 'response.output_item.added',
      sequence_number: sequence++,
      output_index: 0,
      item: { ...outputItem, status: 'in_progress', input: '' },
    });
    for (const piece of callArguments.match(/.{1,16}/gs) ?? []) {
      events.push({
        type: 'response.custom_tool_call_input.delta',
        sequence_number: sequence++,
        item_id: itemId,
        output_index: 0,
        delta: piece,
      });
    }
    events.push(
      { type: 'response.custom_tool_call_input.done', sequence_number: sequence++, item_id: itemId, output_index: 0, input: callArguments },
      { type: 'response.output_item.done', sequence_number: sequence++, output_index: 0, item: outputItem },
    );
  } else if (call) {
    const itemId = id('fc_');
    outputItem = {
      id: itemId,
      type: 'function_call',
      status: 'completed',
      arguments: callArguments,
      call_id: id('call_'),
      name: call.name,
    };
    events.push({
      type: 'response.output_item.added',
      sequence_number: sequence++,
      output_index: 0,
      item: { ...outputItem, status: 'in_progress', arguments: '' },
    });
    for (const piece of callArguments.match(/.{1,16}/gs) ?? []) {
      events.push({
        type: 'response.function_call_arguments.delta',
        sequence_number: sequence++,
        item_id: itemId,
        output_index: 0,
        delta: piece,
      });
    }
    events.push(
      {
        type: 'response.function_call_arguments.done',
        sequence_number: sequence++,
        item_id: itemId,
        output_index: 0,
        arguments: callArguments,
      },
      { type: 'response.output_item.done', sequence_number: sequence++, output_index: 0, item: outputItem },
    );
  } else if (replyText) {
    const itemId = id('msg_');
    const part = { type: 'output_text', text: replyText, annotations: [], logprobs: [] };
    outputItem = { id: itemId, type: 'message', status: 'completed', role: 'assistant', content: [part] };
    events.push(
      {
        type: 'response.output_item.added',
        sequence_number: sequence++,
        output_index: 0,
        item: { ...outputItem, status: 'in_progress', content: [] },
      },
      {
        type: 'response.content_part.added',
        sequence_number: sequence++,
        item_id: itemId,
        output_index: 0,
        content_index: 0,
        part: { ...part, text: '' },
      },
    );
    for (const piece of replyText.match(/.{1,12}/gs) ?? []) {
      events.push({
        type: 'response.output_text.delta',
        sequence_number: sequence++,
        item_id: itemId,
        output_index: 0,
        content_index: 0,
        delta: piece,
        logprobs: [],
      });
    }
    events.push(
      {
        type: 'response.output_text.done',
        sequence_number: sequence++,
        item_id: itemId,
        output_index: 0,
        content_index: 0,
        text: replyText,
        logprobs: [],
      },
      { type: 'response.content_part.done', sequence_number: sequence++, item_id: itemId, output_index: 0, content_index: 0, part },
      { type: 'response.output_item.done', sequence_number: sequence++, output_index: 0, item: outputItem },
    );
  }
  const output = outputItem ? usage.output : 0;
  const done = {
    ...base,
    status: 'completed',
    output: outputItem ? [outputItem] : [],
    usage: {
      input_tokens: usage.input + usage.cacheRead,
      input_tokens_details: { cached_tokens: usage.cacheRead },
      output_tokens: output,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: usage.input + usage.cacheRead + output,
    },
  };
  events.push({ type: 'response.completed', sequence_number: sequence++, response: done });
  return events;
}

function writeSse(res: ServerResponse, events: string[], latency: number): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'request-id': id('req_'),
  });
  if (latency <= 0) {
    res.end(events.join(''));
    return;
  }
  // Spread the events so time-to-first-byte and streaming are observable.
  const step = Math.max(1, Math.floor(latency / events.length));
  let i = 0;
  const next = () => {
    if (res.destroyed) return;
    res.write(events[i++]!);
    if (i < events.length) setTimeout(next, step);
    else res.end();
  };
  next();
}

const sseHeaders = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

/** The faults of `x-fake-fault` (see the module comment). */
function misbehave(req: IncomingMessage, res: ServerResponse, fault: string, body: Json | null): void {
  const model = String(body?.['model'] ?? 'unknown');
  // The first event of a stream in the wire format of the path asked for.
  const path = (req.url ?? '').split('?')[0]!;
  const start = path.endsWith('/chat/completions')
    ? `data: ${JSON.stringify({
        id: id('chatcmpl-'),
        object: 'chat.completion.chunk',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
      })}\n\n`
    : path.endsWith('/responses')
      ? `event: response.created\ndata: ${JSON.stringify({
          type: 'response.created',
          sequence_number: 0,
          response: { id: id('resp_'), object: 'response', status: 'in_progress', model, output: [], usage: null },
        })}\n\n`
      : `event: message_start\ndata: ${JSON.stringify({
          type: 'message_start',
          message: {
            id: id('msg_'),
            type: 'message',
            role: 'assistant',
            model,
            content: [],
            usage: { input_tokens: 10, output_tokens: 1 },
          },
        })}\n\n`;
  switch (fault) {
    case 'hang':
      return; // the socket stays open until the client gives up
    case 'hang-mid-stream':
      res.writeHead(200, sseHeaders);
      res.write(start);
      return;
    case 'reset-mid-stream':
      res.writeHead(200, sseHeaders);
      res.write(start);
      setTimeout(() => req.socket.resetAndDestroy(), 50);
      return;
    case 'garbage': {
      const bytes = randomBytes(4096);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': bytes.length });
      res.end(bytes);
      return;
    }
    case 'garbage-stream':
      res.writeHead(200, sseHeaders);
      res.write(randomBytes(4096));
      res.end(randomBytes(4096));
      return;
    case 'huge-line': {
      const total = Number(req.headers['x-fake-line-bytes'] ?? 10 * 1024 * 1024);
      res.writeHead(200, sseHeaders);
      res.write(start);
      res.write('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"');
      const piece = 'x'.repeat(64 * 1024);
      let sent = 0;
      const more = () => {
        while (sent < total) {
          const part = piece.slice(0, Math.min(piece.length, total - sent));
          sent += part.length;
          if (!res.write(part)) {
            res.once('drain', more);
            return;
          }
        }
        res.write('"}}\n\n');
        res.write(
          `event: message_delta\ndata: ${JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 7 } })}\n\n`,
        );
        res.end('event: message_stop\ndata: {"type":"message_stop"}\n\n');
      };
      more();
      return;
    }
    default:
      sendJson(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: `unknown x-fake-fault ${fault}` } });
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'request-id': id('req_') });
  res.end(body);
}

const anthropicErrorTypes: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

function sendError(res: ServerResponse, anthropic: boolean, status: number): void {
  const message = `fake provider error ${status}`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (status === 429 || status === 529) headers['retry-after'] = '1';
  const body = anthropic
    ? { type: 'error', error: { type: anthropicErrorTypes[status] ?? 'api_error', message } }
    : { error: { message, type: status === 429 ? 'rate_limit_exceeded' : 'invalid_request_error', param: null, code: null } };
  res.writeHead(status, headers);
  res.end(JSON.stringify(body));
}
