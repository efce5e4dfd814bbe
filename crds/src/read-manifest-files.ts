import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export type ManifestFile = { file: string; documents: Record<string, unknown>[] };

/**
 * Reads every `.yaml` file of a folder (not recursive, in name order, as `kubectl apply -f <dir>`
 * does) into plain objects, skipping empty documents.
 * @throws Error naming the file when a document is not valid YAML.
 */
export async function readManifestFiles(dir: string): Promise<ManifestFile[]> {
  const names = (await readdir(dir)).filter((name) => /\.ya?ml$/.test(name)).sort();
  const files: ManifestFile[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const documents: Record<string, unknown>[] = [];
    for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
      const value: unknown = doc.toJS();
      if (value !== null && value !== undefined) documents.push(value as Record<string, unknown>);
    }
    files.push({ file, documents });
  }
  return files;
}
