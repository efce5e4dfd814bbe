import { readFile } from 'node:fs/promises';

const installDoc = new URL('../../../docs/install.md', import.meta.url);

/** The `sh e2e:<step>` blocks of docs/install.md by step: the commands the cluster e2e runs verbatim. */
export async function installDocSteps(): Promise<Record<string, string>> {
  const text = await readFile(installDoc, 'utf8');
  const steps: Record<string, string> = {};
  for (const match of text.matchAll(/^```sh e2e:([a-z-]+)\n([\s\S]*?)^```$/gm)) steps[match[1]!] = match[2]!;
  return steps;
}
