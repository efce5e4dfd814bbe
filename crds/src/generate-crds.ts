import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { buildCrd } from './build-crd.ts';
import { renderCrdReference } from './render-crd-reference.ts';
import { resourceKinds } from './resource-kinds.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
/** Where the generated CRDs live, relative to the repository root. */
export const crdDir = 'crds';
export const crdReferencePath = 'docs/crd-reference.md';
/** The Helm chart ships the same CRDs (Helm installs a chart's crds/ folder before its templates). */
export const chartCrdDir = 'helm/codevector/crds';
const generatedFile = /\.codevector\.dev\.yaml$/;

/**
 * Everything generated from the zod schemas, keyed by path relative to the repository root:
 * one CustomResourceDefinition per kind and the CRD reference. Pure, so the staleness test can
 * compare it with what is committed.
 */
export function generateCrdFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const resource of resourceKinds) {
    const crd = buildCrd(resource);
    const header = `# Generated from the zod schemas in crds/src by crds/src/generate-crds.ts: do not edit.\n# Regenerate with \`npm run gen:crds\`.\n`;
    // lineWidth 0: no folding, so a changed description is a one-line diff.
    const yaml = header + stringify(crd, { lineWidth: 0 });
    files.set(`${crdDir}/${crd.metadata.name}.yaml`, yaml);
    files.set(`${chartCrdDir}/${crd.metadata.name}.yaml`, yaml);
  }
  files.set(crdReferencePath, renderCrdReference(resourceKinds));
  return files;
}

/** Writes the generated files and removes CRD files of kinds that no longer exist. */
export async function writeCrdFiles(root = repoRoot): Promise<string[]> {
  const files = generateCrdFiles();
  for (const dir of [crdDir, chartCrdDir]) {
    await mkdir(path.join(root, dir), { recursive: true });
    for (const existing of await readdir(path.join(root, dir))) {
      if (generatedFile.test(existing) && !files.has(`${dir}/${existing}`)) await rm(path.join(root, dir, existing));
    }
  }
  for (const [file, content] of files) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), content);
  }
  return [...files.keys()];
}

if (import.meta.main) {
  for (const file of await writeCrdFiles()) console.log(`wrote ${file}`);
}
