import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runRouteCli } from './route-cli.ts';

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));

function capture() {
  let out = '';
  let err = '';
  return {
    io: {
      stdout: {
        write: (s: string) => {
          out += s;
          return true;
        },
      },
      stderr: {
        write: (s: string) => {
          err += s;
          return true;
        },
      },
    } as never,
    out: () => out,
    err: () => err,
  };
}

describe('codevector route', () => {
  it('says which Model and Provider the example manifests give agents’ default model names, and why', async () => {
    const c = capture();
    const status = await runRouteCli(
      ['claude-opus-5-5', 'claude-opus-4-8[1m]', 'gpt-6.2-sol', 'claude-sonnet-5', '--manifests', examples, '--json'],
      c.io,
    );
    expect(status).toBe(0);
    const lines = c
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ model: 'codevector/claude-opus-4-5', via: 'pattern', matched: 'claude-opus-*' });
    expect(lines[1]).toMatchObject({ model: 'codevector/claude-opus-4-5', variant: '[1m]', upstreamModel: 'claude-opus-4-5-20251101' });
    expect(lines[2]).toMatchObject({ model: 'codevector/gpt-5', provider: 'codevector/openai' });
    expect(lines[3]).toMatchObject({ via: 'name' });
  });

  it('exits 1 and lists what is served when a name reaches nothing', async () => {
    const c = capture();
    expect(await runRouteCli(['llama3', '--manifests', examples], c.io)).toBe(1);
    expect(c.out()).toMatch(/llama3 → no Model; names served: .*claude-\*/);
  });

  it('exits 2 without a config source', async () => {
    const c = capture();
    expect(await runRouteCli(['x'], c.io, {})).toBe(2);
    expect(c.err()).toContain('DATABASE_URL');
  });
});
