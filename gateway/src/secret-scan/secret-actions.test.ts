import { describe, expect, it } from 'vitest';
import { redactBody, secretNotices } from './secret-actions.ts';
import { createSecretScanner } from './secret-scanner.ts';

const keyId = 'AKIA2OGYBAH6QWERT7XZ';
const rules = (action: 'block' | 'redact' | 'observe') => [
  { namespace: 'team', name: `cloud-${action}`, detectors: ['cloud'], patterns: [], action },
];

function scan(body: Record<string, unknown>, action: 'block' | 'redact' | 'observe') {
  return createSecretScanner(rules(action)).scan(Buffer.from(JSON.stringify(body)), body);
}

describe('Redact and Observe', () => {
  it('collects every Redact match without blocking, and replaces each with its placeholder', () => {
    const body = { messages: [{ role: 'user', content: `one ${keyId} and ${keyId.replace('QWERT', 'QWERS')} two` }] };
    const result = scan(body, 'redact');
    expect(result.blocked).toBe(false);
    expect(result.matches.map((m) => m.action)).toEqual(['redact', 'redact']);
    expect(redactBody(body, result.matches)).toBe(2);
    expect(body.messages[0]!.content).toBe('one [REDACTED:aws-access-key-id] and [REDACTED:aws-access-key-id] two');
  });

  it('redacts inside JSON held by a string (tool-call arguments) and keeps it JSON', () => {
    const args = JSON.stringify({ command: `aws configure set aws_access_key_id ${keyId}` });
    const body = {
      messages: [{ role: 'assistant', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'bash', arguments: args } }] }],
    };
    const result = scan(body, 'redact');
    expect(result.matches[0]!.path).toBe('messages[0].tool_calls[0].function.arguments.command');
    redactBody(body, result.matches);
    const after = JSON.parse(body.messages[0]!.tool_calls[0]!.function.arguments) as { command: string };
    expect(after.command).toBe('aws configure set aws_access_key_id [REDACTED:aws-access-key-id]');
  });

  it('leaves the body alone for Observe and describes each match without its value', () => {
    const body = { messages: [{ role: 'user', content: `key ${keyId}` }] };
    const result = scan(body, 'observe');
    expect(redactBody(body, result.matches)).toBe(0);
    expect(body.messages[0]!.content).toBe(`key ${keyId}`);
    const [notice] = secretNotices(result.matches, 'claude-sonnet-5');
    expect(notice).toMatchObject({
      action: 'gateway.secret_observed',
      targetName: 'team/cloud-observe',
      detail: { rule: 'aws-access-key-id', action: 'observe', location: 'messages[0].content', length: 20, model: 'claude-sonnet-5' },
    });
    expect(JSON.stringify(notice)).not.toContain(keyId);
  });

  it('blocks when any governing rule blocks, whatever the others do', () => {
    const body = { messages: [{ role: 'user', content: `key ${keyId}` }] };
    const scanner = createSecretScanner([...rules('redact'), ...rules('block'), ...rules('observe')]);
    const result = scanner.scan(Buffer.from(JSON.stringify(body)), body);
    expect(result.blocked).toBe(true);
    expect(result.matches.find((m) => m.action === 'block')?.secretRule).toBe('team/cloud-block');
  });
});
