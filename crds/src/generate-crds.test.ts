import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { crdDir, generateCrdFiles } from './generate-crds.ts';
import { resourceKinds } from './resource-kinds.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

describe('generateCrdFiles', () => {
  // CI runs this: a schema change without `npm run gen:crds` must not reach the cluster silently.
  it('committed CRD YAML and docs/crd-reference.md are not stale (run npm run gen:crds)', async () => {
    for (const [file, content] of generateCrdFiles()) {
      const committed = await readFile(path.join(repoRoot, file), 'utf8').catch(() => '<missing>');
      expect(committed, `${file} is stale: run npm run gen:crds`).toBe(content);
    }
  });

  it('leaves no CRD file behind for a kind that no longer exists', async () => {
    const onDisk = (await readdir(path.join(repoRoot, crdDir))).filter((f) => f.endsWith('.codevector.dev.yaml')).sort();
    const generated = [...generateCrdFiles().keys()].filter((f) => f.startsWith(`${crdDir}/`)).map((f) => path.basename(f));
    expect(onDisk).toEqual(generated.sort());
  });

  it('is deterministic', () => {
    expect([...generateCrdFiles()]).toEqual([...generateCrdFiles()]);
  });

  it('writes one namespaced CRD per kind with status subresource, short names, category and READY/AGE columns', () => {
    const files = generateCrdFiles();
    for (const kind of resourceKinds) {
      const crd = parse(files.get(`${crdDir}/${kind.plural}.codevector.dev.yaml`) ?? '');
      expect(crd.spec.scope).toBe('Namespaced');
      expect(crd.spec.names).toMatchObject({
        kind: kind.kind,
        plural: kind.plural,
        shortNames: kind.shortNames,
        categories: ['codevector'],
      });
      const [version] = crd.spec.versions;
      expect(version.subresources).toEqual({ status: {} });
      const columns = version.additionalPrinterColumns.map((c: { name: string }) => c.name);
      expect(columns.slice(-2)).toEqual(['Ready', 'Age']);
    }
  });
});
