// The shape of this package, held by a test so it stays: rooms import each other one way only
// (build-app.ts once imported the routes that imported its AppDeps), and contract files stay
// free of server code, because the web console imports their types and type-checks them as
// browser code. The web console's side of that rule is checked here too: its tsconfig is the
// browser's, without Node's types, so a test that reads files cannot live there.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('.', import.meta.url));
const sources = readdirSync(root, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .map((f) => f.split(path.sep).join('/'));

/** Module specifiers of every static import and re-export. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  return [...text.matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)'|^import\s+'([^']+)'/gms)].map((m) => (m[1] ?? m[2])!);
}

const relativeImports = (file: string) =>
  importsOf(file)
    .filter((s) => s.startsWith('.'))
    .map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)));

/** A cycle in `edges`, as the list of nodes on it, or null. */
function findCycle(edges: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    if (state.get(node) === 'done') return null;
    if (state.get(node) === 'open') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'open');
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of edges.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

const room = (file: string) => (file.includes('/') ? `${file.split('/')[0]}/` : file);

describe('console API layout', () => {
  it('reads the imports it checks', () => {
    expect(relativeImports('build-app.ts')).toContain('app-deps.ts');
    expect(sources).toContain('people/user-routes.ts');
  });

  it('has no import cycle between files, nor between rooms', () => {
    const files = new Map(sources.map((f) => [f, new Set(relativeImports(f))]));
    expect(findCycle(files)).toBeNull();
    const rooms = new Map<string, Set<string>>();
    for (const [file, targets] of files) {
      const from = rooms.get(room(file)) ?? new Set();
      for (const target of targets) if (room(target) !== room(file)) from.add(room(target));
      rooms.set(room(file), from);
    }
    expect(findCycle(rooms)).toBeNull();
  });

  it('keeps contract files to zod, the core audit record and other contracts', () => {
    const contracts = sources.filter((f) => f.endsWith('-contract.ts'));
    expect(contracts.length).toBeGreaterThanOrEqual(6);
    const allowed = (s: string) => s === 'zod' || s === '@codevector/core/audit-entry' || (s.startsWith('.') && s.endsWith('-contract.ts'));
    for (const file of contracts) expect({ file, imports: importsOf(file).filter((s) => !allowed(s)) }).toEqual({ file, imports: [] });
    const core = readFileSync(fileURLToPath(new URL('../../../core/src/audit-entry.ts', import.meta.url)), 'utf8');
    expect([...core.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1])).toEqual(['zod']);
  });
});

describe('web console imports of other packages', () => {
  const web = fileURLToPath(new URL('../../web/src/', import.meta.url));
  const webFiles = readdirSync(web, { recursive: true, encoding: 'utf8' }).filter((f) => /\.tsx?$/.test(f));

  it('are type-only imports of API contracts or the core audit record, so nothing of the server is bundled', () => {
    const offending: string[] = [];
    let seen = 0;
    for (const file of webFiles) {
      const text = readFileSync(path.join(web, file), 'utf8');
      for (const m of text.matchAll(/^(import|export)(\s+type)?\s[^;]*?from\s+'(@codevector\/[^']+)'/gms)) {
        seen += 1;
        const [, , typeOnly, specifier] = m;
        const contract =
          /^@codevector\/console-api\/[a-z-]+\/[a-z-]+-contract$/.test(specifier!) || specifier === '@codevector/core/audit-entry';
        if (!typeOnly || !contract) offending.push(`${file}: ${m[0].split('\n')[0]}`);
      }
    }
    expect(seen).toBeGreaterThan(10);
    expect(offending).toEqual([]);
  });
});
