import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
/** The Claude Code CLI of the lockfile (its native binary). */
export const claudeCodeBinary = path.join(path.dirname(require.resolve('@anthropic-ai/claude-code/package.json')), 'bin', 'claude.exe');

/**
 * Runs the real Claude Code CLI against a gateway, in a fresh home, with no traffic but the
 * gateway's. Resolves with stdout; a failed run rejects with its output, unless `allowFailure`,
 * which resolves with stdout and stderr together (for refusals the test reads).
 */
export function runClaudeCode(options: {
  args: string[];
  cwd: string;
  home: string;
  baseUrl: string;
  apiKey: string;
  timeoutMs?: number;
  env?: Record<string, string>;
  allowFailure?: boolean;
}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      claudeCodeBinary,
      options.args,
      {
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 90_000,
        env: {
          PATH: process.env['PATH'],
          HOME: options.home,
          ANTHROPIC_BASE_URL: options.baseUrl,
          ANTHROPIC_API_KEY: options.apiKey,
          ...options.env,
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
          DISABLE_TELEMETRY: '1',
          DISABLE_AUTOUPDATER: '1',
        },
      },
      (error, stdout, stderr) => {
        if (options.allowFailure) resolve(`${stdout}\n${stderr}`);
        else if (error) reject(new Error(`${error.message}\n${stdout}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}
