// Node's compile cache for the services started from a checkout (`npm start`, the benchmarks):
// filled before they start, so they read their compiled code from disk and never load Node's
// TypeScript stripper (~19 MB resident each; docs/adr/0005-image.md "Compile cache").
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

/** Kept between runs under the tool cache; Node keys it by its version, flags, user and each file's content. */
export const compileCacheDir = path.join(
  process.env['CODEVECTOR_CACHE'] ?? path.join(os.homedir(), '.cache', 'codevector'),
  'node-compile-cache',
);

/** The services' source folders, as the image warms them. */
export const serviceSources = ['crds/src', 'core/src', 'operator/src', 'gateway/src', 'gateway/bin', 'console/api/src'];

/** Compiles the services' modules into the cache (a second or two once warm); false if it could not. */
export async function warmCompileCache(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const warm = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'scripts/warm-compile-cache.ts', ...serviceSources], {
    cwd: root,
    env: { ...env, NODE_COMPILE_CACHE: compileCacheDir },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return (await new Promise<number | null>((resolve) => warm.once('exit', resolve))) === 0;
}
