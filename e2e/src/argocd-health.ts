import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { LuaFactory } from 'wasmoon';

const run = promisify(execFile);

const customizations = fileURLToPath(new URL('../../docs/argocd/resource_customizations/codevector.dev/', import.meta.url));

export type ArgoHealth = { status: 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended' | 'Missing' | 'Unknown'; message?: string };

/** The health.lua Argo CD is given for a kind (docs/argocd.md). */
export function healthScript(kind: string): Promise<string> {
  return readFile(`${customizations}${kind}/health.lua`, 'utf8');
}

/**
 * Runs a kind's Argo CD health script on an object, as Argo CD does: the object as a Lua table
 * in the global `obj`, the script's returned table read back. The interpreter is real Lua (the
 * reference C implementation compiled to WebAssembly, wasmoon); Argo CD embeds gopher-lua, a
 * Lua 5.1, so the scripts use only what both have (checked by `lua51Compatible`).
 */
export async function argoHealth(kind: string, object: unknown): Promise<ArgoHealth> {
  const script = await healthScript(kind);
  const engine = await new LuaFactory().createEngine();
  try {
    const result = (await engine.doString(`obj = ${toLua(object)}\nlocal function check()\n${script}\nend\nreturn check()`)) as ArgoHealth;
    return { status: result.status, ...(result.message !== undefined ? { message: result.message } : {}) };
  } finally {
    engine.global.close();
  }
}

/**
 * The same, in gopher-lua's `glua` (scripts/gopher-lua.sh): the interpreter Argo CD itself embeds,
 * a Lua 5.1, so a script that only works in newer Lua fails here as it would in Argo CD.
 * @throws when glua cannot run the script.
 */
export async function argoHealthInGopherLua(glua: string, kind: string, object: unknown): Promise<ArgoHealth> {
  const script = await healthScript(kind);
  const dir = await mkdtemp(path.join(tmpdir(), 'cv-glua-'));
  try {
    const file = path.join(dir, 'check.lua');
    await writeFile(
      file,
      `obj = ${toLua(object)}\nlocal function check()\n${script}\nend\nlocal hs = check()\nprint(hs.status .. "\\t" .. (hs.message or ""))\n`,
    );
    const { stdout } = await run(glua, [file]);
    const line = stdout.replace(/\n$/, '');
    const tab = line.indexOf('\t');
    const message = line.slice(tab + 1);
    return { status: line.slice(0, tab) as ArgoHealth['status'], ...(message ? { message } : {}) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Lua 5.2+ syntax gopher-lua rejects: goto/labels, integer division, bitwise operators, utf8/\u escapes. */
export function lua51Compatible(script: string): string[] {
  const code = script.replace(/--.*$/gm, '').replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const problems: string[] = [];
  if (/\bgoto\b|::\w+::/.test(code)) problems.push('goto');
  if (/\/\//.test(code)) problems.push('integer division');
  if (/[&|~](?!=)|<<|>>/.test(code.replace(/~=/g, ''))) problems.push('bitwise operator');
  if (/\butf8\./.test(code)) problems.push('utf8 library');
  return problems;
}

function toLua(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'boolean' || typeof value === 'number') return String(value);
  if (typeof value === 'string') return luaString(value);
  if (Array.isArray(value)) return `{${value.map(toLua).join(', ')}}`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== null && v !== undefined);
  return `{${entries.map(([k, v]) => `[${luaString(k)}] = ${toLua(v)}`).join(', ')}}`;
}

function luaString(text: string): string {
  // Decimal byte escapes for everything outside printable ASCII: valid in Lua 5.1 and 5.4 alike.
  let out = '"';
  for (const byte of Buffer.from(text, 'utf8')) {
    if (byte === 0x22 || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `\\${byte}`;
  }
  return `${out}"`;
}
