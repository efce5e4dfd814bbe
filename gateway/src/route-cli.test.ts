import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
    expect(c.out()).toMatch(/llama3 → no Model and no default; names served: .*claude-\*/);
  });

  it('explains fallbacks, the default Model per API and tenancy', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'route-cli-'));
    const provider = (namespace: string, name: string, type: string) =>
      `apiVersion: codevector.dev/v1alpha1\nkind: Provider\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec: {type: ${type}, baseURL: "https://${name}.example", apiKeySecretRef: {name: k, key: k}}\n`;
    const model = (namespace: string, name: string, providerRef: string, extra: string) =>
      `apiVersion: codevector.dev/v1alpha1\nkind: Model\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec: {name: ${name}, providerRef: {name: ${providerRef}}, upstreamModel: ${name}-up, pricing: {input: 1, output: 1}${extra}}\n`;
    await writeFile(
      path.join(dir, 'all.yaml'),
      [
        provider('codevector', 'primary', 'anthropic'),
        provider('codevector', 'backup', 'anthropic'),
        provider('codevector', 'oai', 'openai'),
        provider('team-a', 'primary', 'anthropic'),
        model(
          'codevector',
          'claude-main',
          'primary',
          ', default: true, fallbacks: [{providerRef: {name: backup}, upstreamModel: other-up}]',
        ),
        model('team-a', 'claude-team', 'primary', ', default: true'),
      ].join('---\n'),
    );
    const c = capture();
    expect(await runRouteCli(['claude-main', 'llama3', '--manifests', dir], c.io, { CODEVECTOR_TENANTS: 'team-a=alpha' })).toBe(0);
    const [main, unmatched, anthropicLine, openaiLine] = c.out().trim().split('\n');
    expect(main).toBe(
      'claude-main → Model codevector/claude-main by its name → Provider codevector/primary (anthropic, https://primary.example) as "claude-main-up", then, if it fails before answering (429, 5xx, 529, unreachable), fallback 1 codevector/backup (anthropic, https://backup.example) as "other-up"',
    );
    expect(unmatched).toBe('llama3 → no name, alias or pattern matches; served by the default Model:');
    expect(anthropicLine).toMatch(
      /^ {2}Anthropic requests \(\/v1\/messages\): default Model codevector\/claude-main → Provider codevector\/primary/,
    );
    expect(openaiLine).toBe('  OpenAI requests (/v1/chat/completions, /v1/responses): refused, no default');

    // A key of team-a's group gets its tenant's default first, and its Model by name.
    const alpha = capture();
    await runRouteCli(['llama3', 'claude-team', '--manifests', dir, '--groups', 'alpha', '--json'], alpha.io, {
      CODEVECTOR_TENANTS: 'team-a=alpha',
    });
    const [asAlpha, team] = alpha
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(asAlpha).toMatchObject({ via: 'default', defaults: [{ surface: 'anthropic', model: 'team-a/claude-team' }] });
    expect(team).toMatchObject({ model: 'team-a/claude-team', via: 'name' });
    // Anyone else: team-a's Model is unknown, so the installation's default serves the name.
    const other = capture();
    await runRouteCli(['claude-team', '--manifests', dir, '--json'], other.io, { CODEVECTOR_TENANTS: 'team-a=alpha' });
    expect(JSON.parse(other.out())).toMatchObject({ via: 'default', defaults: [{ model: 'codevector/claude-main' }] });
  });

  it('exits 2 without a config source', async () => {
    const c = capture();
    expect(await runRouteCli(['x'], c.io, {})).toBe(2);
    expect(c.err()).toContain('DATABASE_URL');
  });
});
