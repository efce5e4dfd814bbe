import type { SnapshotModel } from '@codevector/core/config-snapshot';
import { describe, expect, it } from 'vitest';
import { createModelRouter } from './model-router.ts';

const model = (modelName: string, aliases: string[] = [], patterns: string[] = []) =>
  ({ modelName, aliases, patterns }) as unknown as SnapshotModel;
const entries = [
  { model: model('claude-sonnet-5', ['sonnet'], ['claude-*']), target: 'sonnet' },
  { model: model('claude-opus-4-5', ['claude-opus-4-5-20251101'], ['claude-opus-*']), target: 'opus' },
  { model: model('gpt-5', [], ['gpt-5*']), target: 'gpt5' },
  { model: model('local', [], ['*']), target: 'catch-all' },
];

describe('model router', () => {
  const duplicates: string[] = [];
  const router = createModelRouter(entries, (name) => duplicates.push(name));

  it('prefers an exact name, then an alias, then the longest pattern, then the catch-all', () => {
    expect(router.route('claude-sonnet-5')).toMatchObject({ target: 'sonnet', via: 'name' });
    expect(router.route('claude-opus-4-5-20251101')).toMatchObject({ target: 'opus', via: 'alias' });
    // claude-opus-* has more literal characters than claude-*.
    expect(router.route('claude-opus-5-5')).toMatchObject({ target: 'opus', via: 'pattern', matched: 'claude-opus-*' });
    expect(router.route('claude-haiku-9')).toMatchObject({ target: 'sonnet', via: 'pattern', matched: 'claude-*' });
    expect(router.route('gpt-5.2-codex')).toMatchObject({ target: 'gpt5', matched: 'gpt-5*' });
    expect(router.route('llama3:70b')).toMatchObject({ target: 'catch-all', matched: '*' });
  });

  it('routes a bracketed variant to the Model of its base name', () => {
    expect(router.route('claude-opus-4-5[1m]')).toEqual({ target: 'opus', via: 'name', matched: 'claude-opus-4-5', variant: '[1m]' });
  });

  it('treats pattern characters literally except *', () => {
    const strict = createModelRouter([{ model: model('m', [], ['a.b-*']), target: 'm' }], () => {});
    expect(strict.route('a.b-1')).toMatchObject({ target: 'm' });
    expect(strict.route('axb-1')).toBeNull();
    expect(strict.names()).toEqual(['a.b-*', 'm']);
  });

  it('keeps the first of two Models claiming one exact name, and says so', () => {
    const twice = createModelRouter(
      [
        { model: model('x'), target: 1 },
        { model: model('y', ['x']), target: 2 },
      ],
      (name) => duplicates.push(name),
    );
    expect(twice.route('x')).toMatchObject({ target: 1, via: 'name' });
    expect(duplicates).toContain('x');
  });
});
