import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

/** The Codex CLI of the lockfile (`@openai/codex`, a native binary behind a node launcher). */
export function codexBinary(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@openai/codex/package.json')), 'bin', 'codex.js');
}

export type CodexRun = {
  code: number | null;
  stdout: string;
  stderr: string;
  lastMessage: string;
  events: Record<string, unknown>[];
  work: string;
};

export type CodexOptions = {
  /** HOME (and CODEX_HOME under it) for the run: sessions live there. */
  home: string;
  prompt: string;
  /** Entries for `-c key=value` overrides. */
  config: string[];
  env: Record<string, string>;
  /** Files to write into the working folder first, by name. */
  files?: Record<string, string>;
  /** The working folder; a fresh one under `home` when absent. */
  work?: string;
  /** `codex exec resume --last`: continue the most recent session (sessions are kept, not ephemeral). */
  resume?: boolean;
  /** Keep the session for a later `resume` (default: ephemeral, nothing saved). */
  keepSession?: boolean;
  /** Resolve with the failed run instead of rejecting. */
  allowFailure?: boolean;
  timeoutMs?: number;
};

/**
 * Runs `codex exec` headless once: HOME and CODEX_HOME in `home`, update checks, analytics and
 * feedback off, and every non-loopback connection sent to a dead proxy, so nothing leaves the
 * machine. Rejects on a non-zero exit unless `allowFailure`.
 */
export async function runCodex(options: CodexOptions): Promise<CodexRun> {
  const { home, prompt, config, env, files = {} } = options;
  await mkdir(path.join(home, '.codex'), { recursive: true });
  const work = options.work ?? (await mkdtemp(path.join(home, 'work-')));
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(work, name), content);
  const last = path.join(work, 'last-message.txt');
  const args = [
    codexBinary(),
    'exec',
    ...(options.resume ? ['resume', '--last'] : []),
    '--json',
    '--skip-git-repo-check',
    ...(options.resume || options.keepSession ? [] : ['--ephemeral']),
    ...(options.resume ? [] : ['--sandbox', 'read-only', '--color', 'never', '-C', work]),
    '-o',
    last,
    '-c',
    'check_for_update_on_startup=false',
    '-c',
    'analytics.enabled=false',
    '-c',
    'feedback.enabled=false',
    '-c',
    'otel.exporter="none"',
    // Never ask before running a command: `codex exec` has nobody to ask. The read-only sandbox
    // still keeps commands from writing.
    '-c',
    'approval_policy="never"',
    ...config.flatMap((entry) => ['-c', entry]),
    prompt,
  ];
  const child = spawn(process.execPath, args, {
    cwd: work,
    // `codex exec` reads more of the prompt from a piped stdin until EOF; give it none.
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env['PATH'],
      HOME: home,
      CODEX_HOME: path.join(home, '.codex'),
      // Loopback only: anything else goes to a proxy on a port nobody listens on.
      HTTPS_PROXY: 'http://127.0.0.1:9',
      HTTP_PROXY: 'http://127.0.0.1:9',
      ALL_PROXY: 'http://127.0.0.1:9',
      NO_PROXY: '127.0.0.1,localhost',
      RUST_LOG: 'warn',
      ...env,
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  if (code !== 0 && !options.allowFailure) throw new Error(`codex exited with ${code}\n${stdout}\n${stderr}`);
  const events = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  const lastMessage = await readFile(last, 'utf8').catch(() => '');
  return { code, stdout, stderr, lastMessage, events, work };
}
