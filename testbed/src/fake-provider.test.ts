import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { commandFor, type FakeProvider, startFakeProvider } from './fake-provider.ts';

type Json = Record<string, unknown>;

let fake: FakeProvider;

beforeAll(async () => {
  fake = await startFakeProvider();
});

afterAll(async () => {
  await fake?.close();
});

async function responsesSse(body: Json): Promise<{ event: string; data: Json }[]> {
  const res = await fetch(`${fake.url}/v1/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-5', stream: true, ...body }),
  });
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  return (await res.text())
    .split('\n\n')
    .filter(Boolean)
    .map((frame) => {
      const [eventLine, dataLine] = frame.split('\n');
      return { event: eventLine!.slice('event: '.length), data: JSON.parse(dataLine!.slice('data: '.length)) as Json };
    });
}

const userTurn = (text: string) => ({ type: 'message', role: 'user', content: [{ type: 'input_text', text }] });

describe('Responses tool calls', () => {
  it('answers CALL_TOOL with a streamed function_call item in the Responses wire format', async () => {
    const frames = await responsesSse({ input: [userTurn('CALL_TOOL:exec_command:{"cmd":"cat note.txt"}')] });
    // Every frame's `event:` line names its data's type, and sequence numbers count up from 0.
    expect(frames.every((frame) => frame.event === frame.data['type'])).toBe(true);
    expect(frames.map((frame) => frame.data['sequence_number'])).toEqual(frames.map((_, i) => i));
    const types = frames.map((frame) => frame.event);
    expect(types[0]).toBe('response.created');
    expect(types.filter((type) => type !== 'response.function_call_arguments.delta')).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const deltas = frames.filter((frame) => frame.event === 'response.function_call_arguments.delta').map((frame) => frame.data['delta']);
    expect(deltas.join('')).toBe('{"cmd":"cat note.txt"}');
    const added = frames[2]!.data['item'] as Json;
    expect(added).toMatchObject({ type: 'function_call', status: 'in_progress', arguments: '', name: 'exec_command' });
    const item = frames.find((frame) => frame.event === 'response.output_item.done')!.data['item'] as Json;
    expect(item).toEqual({
      id: added['id'],
      type: 'function_call',
      status: 'completed',
      arguments: '{"cmd":"cat note.txt"}',
      call_id: expect.stringMatching(/^call_[0-9a-f]{24}$/),
      name: 'exec_command',
    });
    expect(item['call_id']).toBe(added['call_id']);
    const completed = frames.at(-1)!.data['response'] as Json;
    expect(completed).toMatchObject({ status: 'completed', output: [item] });
    expect((completed['usage'] as Json)['output_tokens']).toBeGreaterThan(0);
  });

  it('answers a function_call_output with what the tool said, whole history or output alone', async () => {
    const output = 'Process exited with code 0\nOutput:\n42 apples\n';
    const history = [
      userTurn('CALL_TOOL:exec_command:{"cmd":"cat note.txt"}'),
      { type: 'function_call', name: 'exec_command', arguments: '{"cmd":"cat note.txt"}', call_id: 'call_1' },
      { type: 'function_call_output', call_id: 'call_1', output },
    ];
    for (const input of [history, history.slice(-1)]) {
      const frames = await responsesSse({ input });
      const text = frames.find((frame) => frame.event === 'response.output_text.done')!.data['text'];
      expect(text).toBe(`The tool said: ${output}`);
    }
    // Content-part outputs are joined.
    const parts = await responsesSse({
      input: [{ type: 'function_call_output', call_id: 'c', output: [{ type: 'input_text', text: 'ok' }] }],
    });
    expect(parts.find((frame) => frame.event === 'response.output_text.done')!.data['text']).toBe('The tool said: ok');
  });

  it('sends the same function_call over the Responses WebSocket, and nothing for a warm-up', async () => {
    const socket = new WebSocket(`${fake.url.replace('http', 'ws')}/v1/responses`);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const events: Json[] = [];
    const completed = (count: number) =>
      new Promise<void>((resolve) => {
        const onMessage = (data: WebSocket.RawData) => {
          events.push(JSON.parse(String(data)) as Json);
          if (events.filter((event) => event['type'] === 'response.completed').length === count) {
            socket.off('message', onMessage);
            resolve();
          }
        };
        socket.on('message', onMessage);
      });
    let done = completed(1);
    socket.send(JSON.stringify({ type: 'response.create', model: 'gpt-5', generate: false, input: [userTurn('CALL_TOOL:x:{}')] }));
    await done;
    expect((events.at(-1)!['response'] as Json)['output']).toEqual([]);
    done = completed(2);
    socket.send(JSON.stringify({ type: 'response.create', model: 'gpt-5', input: [userTurn('CALL_TOOL:exec_command:{"cmd":"ls"}')] }));
    await done;
    socket.close();
    expect((events.at(-1)!['response'] as Json)['output']).toEqual([
      expect.objectContaining({ type: 'function_call', name: 'exec_command', arguments: '{"cmd":"ls"}' }),
    ]);
  });
});

describe('commandFor (the demo model picks a shell command from a plain ask)', () => {
  it('reads the command a person asks for, and nothing from prompts that ask for none', () => {
    expect(commandFor('run ls and count the files')).toBe('ls');
    expect(commandFor('please run `git status --short` and tell me what changed')).toBe('git status --short');
    expect(commandFor('Run pwd.')).toBe('pwd');
    expect(commandFor('list the files here')).toBe('ls');
    expect(commandFor('how many files are in this folder?')).toBe('ls');
    expect(commandFor('hello')).toBeNull();
    expect(commandFor('Say hello.')).toBeNull();
    expect(commandFor('What does the run function do?')).toBeNull();
  });
});
