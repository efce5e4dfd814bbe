import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Agent-like text for the gateway and scan benchmarks: this repository's own sources (code,
 * comments, and the documentation examples of secret formats the scanner's tests hold), every
 * file in turn until `bytes` characters. (Picking by `text.length % parts.length` cycled among
 * the few files whose lengths happened to line up, so the corpus, and the scan rate, changed
 * whenever a file did.)
 */
export function corpus(bytes: number, options: { clean?: boolean } = {}): string {
  const files: string[] = [];
  // `clean` leaves out the tests and the scanner's own sources, which hold credential-shaped
  // examples: a conversation every gateway should let through, so each is measured forwarding it.
  const dirs = options.clean
    ? ['core/src', 'gateway/src', 'crds/src', 'operator/src']
    : ['core/src', 'gateway/src', 'gateway/src/secret-scan', 'crds/src', 'operator/src'];
  for (const dir of dirs) {
    try {
      for (const name of readdirSync(`${root}${dir}`))
        if (name.endsWith('.ts') && !(options.clean && name.includes('.test.'))) files.push(`${root}${dir}/${name}`);
    } catch {
      // a folder another service has not created yet
    }
  }
  const parts = files.map((file) => readFileSync(file, 'utf8'));
  let text = '';
  for (let i = 0; text.length < bytes; i++) text += parts[i % parts.length] ?? 'lorem ipsum ';
  return text.slice(0, bytes);
}

/** An OpenAI chat body as a coding agent sends it: the context as one user message. */
export function chatBody(contextBytes: number, text: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    model: 'bench-model',
    max_tokens: 1024,
    messages: [
      { role: 'system', content: 'You are a coding agent.' },
      { role: 'user', content: text.slice(0, contextBytes) },
      { role: 'user', content: 'What does this code do?' },
    ],
    ...extra,
  });
}

/**
 * A small deterministic PRNG (mulberry32): the same seed gives the same conversation on every
 * run, so figures compare across commits.
 */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where a per-request nonce goes in a template (tool_use ids, a session id). */
export const noncePlaceholder = '@N@';

type Json = Record<string, unknown>;
const ephemeral = { type: 'ephemeral' };

const toolNames = [
  'Task',
  'Bash',
  'Glob',
  'Grep',
  'LS',
  'ExitPlanMode',
  'Read',
  'Edit',
  'MultiEdit',
  'Write',
  'NotebookEdit',
  'WebFetch',
  'TodoWrite',
  'WebSearch',
  'BashOutput',
  'KillShell',
  'SlashCommand',
];

/**
 * Claude Code's tools array: each tool a long prose description and a JSON schema, ~30 KB in all
 * (the size of the CLI's own). The prose is this repository's comments, so the scanner's keyword
 * prefilter sees what it sees in real code.
 */
function claudeCodeTools(text: string, random: () => number): Json[] {
  let at = 0;
  const prose = (bytes: number) => {
    const out = text.slice(at, at + bytes);
    at += bytes;
    return out;
  };
  return toolNames.map((name) => ({
    name,
    description: `${name}: ${prose(900 + Math.floor(random() * 400))}`,
    input_schema: {
      type: 'object',
      properties: {
        command: { type: 'string', description: prose(120) },
        file_path: { type: 'string', description: 'The absolute path to the file to operate on' },
        timeout: { type: 'number', description: 'Optional timeout in milliseconds (max 600000)' },
        description: { type: 'string', description: prose(80) },
      },
      required: ['command'],
      additionalProperties: false,
      $schema: 'http://json-schema.org/draft-07/schema#',
    },
  }));
}

/** A base64 "screenshot": a PNG signature and incompressible bytes, as a pasted image is. */
function image(bytes: number, random: () => number): Json {
  const raw = Buffer.alloc(Math.ceil((bytes * 3) / 4));
  for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(random() * 256);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(raw);
  return { type: 'image', source: { type: 'base64', media_type: 'image/png', data: raw.toString('base64') } };
}

/** `cat -n`-style file contents, as Claude Code's Read tool returns them. */
function numbered(text: string): string {
  return text
    .split('\n')
    .map((line, i) => `${String(i + 1).padStart(6)}\u2192${line}`)
    .join('\n');
}

/** One assistant tool call and the user's tool result: a turn of the agent loop. */
type Exchange = { assistant: Json; user: Json };

function exchange(n: string, bytes: number, text: string, offset: number, random: () => number, withImage: boolean): Exchange {
  const id = `toolu_01${n}${Math.floor(random() * 36 ** 8).toString(36)}`;
  const tool = ['Read', 'Bash', 'Grep', 'Edit'][Math.floor(random() * 4)]!;
  const input =
    tool === 'Bash'
      ? { command: 'npm test -- gateway/src/pipeline', description: 'Run the pipeline tests' }
      : tool === 'Grep'
        ? { pattern: 'scanBlocks', path: 'gateway/src', output_mode: 'content' }
        : tool === 'Edit'
          ? { file_path: '/work/app/src/server.ts', old_string: text.slice(offset, offset + 80), new_string: 'const port = 8080;' }
          : { file_path: `/work/app/src/file-${offset % 97}.ts` };
  const body = numbered(text.slice(offset, offset + Math.max(20, bytes)));
  const content: Json[] = withImage
    ? [{ type: 'tool_result', tool_use_id: id, content: [image(bytes, random)] }]
    : [{ type: 'tool_result', tool_use_id: id, content: body }];
  return {
    assistant: {
      role: 'assistant',
      content: [
        { type: 'text', text: `I'll ${tool === 'Read' ? 'read' : 'check'} that next.` },
        { type: 'tool_use', id, name: tool, input },
      ],
    },
    user: { role: 'user', content },
  };
}

/** The message with Claude Code's moving cache breakpoint on its last content block. */
function marked(message: Json): Json {
  const content = message['content'] as Json[];
  return { ...message, content: [...content.slice(0, -1), { ...content[content.length - 1]!, cache_control: ephemeral }] };
}

/**
 * A Claude Code conversation of about `targetBytes`, in the pieces a load generator assembles into
 * successive turns (ADR 0116): `head` up to the messages array, `messages` (each serialised plain
 * and with the cache breakpoint), `tail` (system, tools, metadata, max_tokens, stream), a pool of
 * new exchanges whose tool_use ids carry `noncePlaceholder`, and `cuts`: message counts where a
 * conversation may resume, each giving a body between 0.9 and 1.0 of the target. Under 40 KB
 * there is no tools array: Claude Code's small requests (titles, topic checks, quick side
 * questions to the small model) carry none, and the tools alone are 30 KB.
 */
export type AgentConversation = {
  targetBytes: number;
  head: string;
  tail: string;
  messages: { plain: string; marked: string }[];
  cuts: number[];
  exchanges: { assistant: string; user: string; userMarked: string }[];
  /** Grow a conversation up to this many bytes, then resume at a cut. */
  maxBytes: number;
  /** A whole never-seen body: every message, tool and the system prompt carry the placeholder. */
  coldTemplate: string;
};

export function agentConversation(targetBytes: number, seed = 1): AgentConversation {
  const random = prng(seed * 7919 + targetBytes);
  const text = corpus(Math.max(400_000, targetBytes * 3), { clean: true });
  const withTools = targetBytes >= 40_000;
  const system: Json[] = [
    { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: ephemeral },
    {
      type: 'text',
      text: `${withTools ? text.slice(200_000, 206_000) : text.slice(200_000, 200_400)}\n<env>\nWorking directory: /work/app\nSession: ${noncePlaceholder}\n</env>`,
      cache_control: ephemeral,
    },
  ];
  const tools = withTools ? claudeCodeTools(text.slice(250_000), random) : [];
  // Turn size scales with the body (a few KB a turn at 200 KB), an image every ninth turn.
  const turnBytes = Math.max(40, Math.min(24_000, Math.round(targetBytes * 0.02)));
  const first: Json = {
    role: 'user',
    content: [
      {
        type: 'text',
        text: `<system-reminder>\nSession ${noncePlaceholder}. As you answer the user's questions, you can use the following context.\n</system-reminder>`,
      },
      { type: 'text', text: 'The gateway test fails on large bodies; find out why and fix it.' },
    ],
  };
  const tailObject = {
    temperature: 1,
    system,
    ...(withTools ? { tools } : {}),
    metadata: { user_id: `user_bench_account__session_${noncePlaceholder}` },
    max_tokens: 32000,
    stream: true,
  };
  const head = `{"model":"bench-claude","messages":[`;
  const tail = `],${JSON.stringify(tailObject).slice(1)}`;
  const build = (count: number, until: number) => {
    const list: Json[] = [first];
    let size = head.length + tail.length + JSON.stringify(first).length;
    for (let i = 0; size < until; i++) {
      const bytes = Math.round(turnBytes * (0.5 + random()));
      const ex = exchange(`${noncePlaceholder}${i}`, bytes, text, Math.floor(random() * (text.length - bytes - 100)), random, i % 9 === 8);
      list.push(ex.assistant, ex.user);
      size += JSON.stringify(ex.assistant).length + JSON.stringify(ex.user).length + 2;
      if (count > 0 && list.length >= count) break;
    }
    return list;
  };
  const maxBytes = Math.round(targetBytes * 1.1);
  const base = build(0, maxBytes);
  const messages = base.map((m) => ({ plain: JSON.stringify(m), marked: JSON.stringify(marked(m)) }));
  const cuts: number[] = [];
  let size = head.length + tail.length - 1;
  for (let k = 1; k <= messages.length; k++) {
    size += messages[k - 1]!.plain.length + 1;
    if (k % 2 === 1 && size >= targetBytes * 0.9 && size <= targetBytes) cuts.push(k);
  }
  if (cuts.length === 0) cuts.push(Math.max(1, messages.length - (messages.length % 2 === 0 ? 1 : 0)));
  const exchanges = Array.from({ length: 64 }, (_, i) => {
    const bytes = Math.round(turnBytes * (0.5 + random()));
    const ex = exchange(noncePlaceholder, bytes, text, Math.floor(random() * (text.length - bytes - 100)), random, i % 9 === 8);
    return { assistant: JSON.stringify(ex.assistant), user: JSON.stringify(ex.user), userMarked: JSON.stringify(marked(ex.user)) };
  });
  // Cold: a conversation resumed at the largest cut, with the nonce in every block (tools too:
  // their descriptions get a "(session N)" suffix), so no block was ever seen.
  const coldTools = tools.map((tool) => ({ ...tool, description: `${tool['description'] as string} (session ${noncePlaceholder})` }));
  const cut = cuts[cuts.length - 1]!;
  const coldMessages = base.slice(0, cut).map((m, i) => (i === cut - 1 ? marked(m) : m));
  const coldTemplate = `${head}${coldMessages.map((m) => JSON.stringify(m)).join(',')}],${JSON.stringify({ ...tailObject, ...(withTools ? { tools: coldTools } : {}) }).slice(1)}`;
  return { targetBytes, head, tail, messages, cuts, exchanges, maxBytes, coldTemplate };
}

/**
 * Successive turns of `conversation` as the load generator sends them (the same walk as the wrk
 * script of bench/src/gateway.ts, for tests and for in-process use): resume at a cut, then each
 * turn appends a new exchange with a fresh nonce and moves the cache breakpoint to it, until the
 * body passes `maxBytes`; then resume at another cut. `cold` gives a never-seen body each time.
 */
export function* agentTurns(conversation: AgentConversation, mode: 'warm' | 'cold', startNonce = 1): Generator<string> {
  let nonce = startNonce;
  const warmBase = conversation.messages.map((m) => ({
    plain: m.plain.replaceAll(noncePlaceholder, '0'),
    marked: m.marked.replaceAll(noncePlaceholder, '0'),
  }));
  const head = conversation.head;
  const tail = conversation.tail.replaceAll(noncePlaceholder, '0');
  let turn: string[] = [];
  let size = 0;
  let cutIndex = 0;
  const resume = () => {
    const cut = conversation.cuts[cutIndex++ % conversation.cuts.length]!;
    turn = warmBase.slice(0, cut).map((m) => m.plain);
    size = head.length + tail.length + turn.reduce((sum, m) => sum + m.length + 1, 0);
    return warmBase[cut - 1]!.marked;
  };
  for (;;) {
    nonce++;
    if (mode === 'cold') {
      yield conversation.coldTemplate.replaceAll(noncePlaceholder, String(nonce));
      continue;
    }
    if (turn.length === 0 || size > conversation.maxBytes) {
      const last = resume();
      yield `${head}${[...turn.slice(0, -1), last].join(',')}${tail}`;
      continue;
    }
    const ex = conversation.exchanges[nonce % conversation.exchanges.length]!;
    const n = String(nonce);
    const assistant = ex.assistant.replaceAll(noncePlaceholder, n);
    turn.push(assistant, ex.user.replaceAll(noncePlaceholder, n));
    size += assistant.length + turn[turn.length - 1]!.length + 2;
    yield `${head}${[...turn.slice(0, -1), ex.userMarked.replaceAll(noncePlaceholder, n)].join(',')}${tail}`;
  }
}
