import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Agent-like text for the gateway and scan benchmarks: this repository's own sources (code,
 * comments, and the documentation examples of secret formats the scanner's tests hold), every
 * file in turn until `bytes` characters. (Picking by `text.length % parts.length` cycled among
 * the few files whose lengths happened to line up, so the corpus, and the scan rate, changed
 * whenever a file did.)
 */
export function corpus(bytes: number): string {
  const files: string[] = [];
  for (const dir of ['core/src', 'gateway/src', 'gateway/src/secret-scan', 'crds/src', 'operator/src']) {
    try {
      for (const name of readdirSync(`${root}${dir}`)) if (name.endsWith('.ts')) files.push(`${root}${dir}/${name}`);
    } catch {
      // a folder another service has not created yet
    }
  }
  const parts = files.map((file) => readFileSync(file, 'utf8'));
  let text = '';
  for (let i = 0; text.length < bytes; i++) text += parts[i % parts.length] ?? 'lorem ipsum ';
  return text.slice(0, bytes);
}

/** An OpenAI chat body as a coding agent sends it: the context as one user message. */
export function chatBody(contextBytes: number, text: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    model: 'bench-model',
    max_tokens: 1024,
    messages: [
      { role: 'system', content: 'You are a coding agent.' },
      { role: 'user', content: text.slice(0, contextBytes) },
      { role: 'user', content: 'What does this code do?' },
    ],
    ...extra,
  });
}
