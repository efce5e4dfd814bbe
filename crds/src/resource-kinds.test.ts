import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { apiVersion } from './api-group.ts';
import { readManifestFiles } from './read-manifest-files.ts';
import { resourceKinds } from './resource-kinds.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const examplesDir = path.join(repoRoot, 'examples');
const fixturesDir = path.join(repoRoot, 'crds/fixtures/invalid');

function kindOf(document: Record<string, unknown>) {
  return resourceKinds.find((k) => document['apiVersion'] === apiVersion && document['kind'] === k.kind);
}

describe('resourceKinds', () => {
  it('names each kind consistently, with cv-prefixed short names that clash with nothing', () => {
    const shortNames = resourceKinds.flatMap((k) => k.shortNames);
    expect(new Set(shortNames).size).toBe(shortNames.length);
    for (const k of resourceKinds) {
      expect(k.plural).toBe(`${k.kind.toLowerCase()}s`);
      expect(k.singular).toBe(k.kind.toLowerCase());
      expect(k.listKind).toBe(`${k.kind}List`);
      for (const s of k.shortNames) expect(s).toMatch(/^cv[a-z]+$/);
    }
  });

  it('accepts every example manifest, and the examples cover every kind and subject kind', async () => {
    const seen: string[] = [];
    for (const { file, documents } of await readManifestFiles(examplesDir)) {
      for (const document of documents) {
        const kind = kindOf(document);
        if (!kind) continue;
        const result = kind.schema.safeParse(document);
        expect(result.success ? '' : z.prettifyError(result.error), `${path.basename(file)}: ${kind.kind}`).toBe('');
        const spec = document['spec'] as { subject?: { kind: string } };
        seen.push(spec.subject ? `${kind.kind}/${spec.subject.kind}` : kind.kind);
      }
    }
    const subjects = ['global', 'user', 'group', 'apiKey', 'eachUser'];
    expect(new Set(seen)).toEqual(
      new Set(['Provider', 'Model', 'SecretRule', ...subjects.map((s) => `Budget/${s}`), ...subjects.map((s) => `RateLimit/${s}`)]),
    );
  });

  it('orders examples so kubectl apply -f examples/ works: the Namespace and Secrets before what uses them', async () => {
    const order = (await readManifestFiles(examplesDir)).flatMap(({ documents }) => documents.map((d) => d['kind'] as string));
    expect(order[0]).toBe('Namespace');
    expect(order.lastIndexOf('Secret')).toBeLessThan(order.indexOf('Provider'));
    expect(order.lastIndexOf('Provider')).toBeLessThan(order.indexOf('Model'));
  });

  it('rejects every invalid fixture in zod too, so local validation agrees with the apiserver', async () => {
    const files = await readManifestFiles(fixturesDir);
    const fixtures = files.filter(({ file }) => !file.endsWith('.base.yaml'));
    expect(fixtures.length).toBeGreaterThanOrEqual(14);
    for (const { file, documents } of files) {
      expect(documents, file).toHaveLength(1);
      const document = documents[0]!;
      const kind = kindOf(document);
      expect(kind, file).toBeDefined();
      expect(path.basename(file).startsWith(`${kind!.kind.toLowerCase()}-`), `${file} is named after its kind`).toBe(true);
      expect(existsSync(file.replace(/(\.base)?\.yaml$/, '.expected.txt')), `${file} has an expected message`).toBe(true);
      const updateOfBase = existsSync(file.replace(/\.yaml$/, '.base.yaml'));
      // A base is valid on its own; so is an update fixture, whose fault (a transition rule)
      // only the apiserver can see, because it needs the stored object.
      expect(kind!.schema.safeParse(document).success, file).toBe(file.endsWith('.base.yaml') || updateOfBase);
    }
  });
});
