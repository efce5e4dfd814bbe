import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { installDocSteps } from './install-doc.ts';

// docs/install.md's evaluation steps are what the cluster e2e executes; this cheap check (part of
// `npm test`) keeps the two tied together without a node: every block exists, the e2e runs each
// one, and the install and upgrade commands render with the chart as it is.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);
const steps = ['install', 'rbac', 'backup', 'upgrade', 'rollback', 'uninstall'];

describe('docs/install.md evaluation steps', () => {
  it('has every step the cluster e2e runs, and the e2e runs every step', async () => {
    const doc = await installDocSteps();
    expect(Object.keys(doc).sort()).toEqual([...steps].sort());
    const e2e = await readFile(path.join(root, 'e2e/src/cluster/cluster.cluster.test.ts'), 'utf8');
    for (const step of steps) expect(e2e).toContain(`docStep('${step}'`);
  });

  it('installs and upgrades with flags the chart accepts (helm template)', async () => {
    const doc = await installDocSteps();
    const bin =
      process.env['KUBEBUILDER_ASSETS'] ?? (await run('bash', [path.join(root, 'scripts/control-plane-binaries.sh')])).stdout.trim();
    // The helm command of each block, with its variables filled in and `install`/`upgrade` made `template`.
    for (const step of ['install', 'upgrade']) {
      const helm = doc[step]!.replace(/\\\n\s*/g, ' ')
        .split('\n')
        .find((line) => line.startsWith('helm '))!;
      const script = helm
        .replace(/^helm (install|upgrade)/, `${path.join(bin, 'helm')} template`)
        .replace(/ --(wait|reuse-values)\b/g, '')
        .replace(/ --timeout \S+/, '')
        .replace(/ --values "\$VALUES"/, '');
      const env = { ...process.env, TAG: 'a', NEW_TAG: 'b' };
      const { stdout } = await run('bash', ['-c', step === 'upgrade' ? `${script} --set postgresql.enabled=true` : script], {
        cwd: root,
        env,
      });
      // The upgrade reuses the install's values; rendered alone it has the default repository.
      expect(stdout).toMatch(new RegExp(`image: \\S*codevector:${step === 'install' ? 'a' : 'b'}\\n`));
      expect(stdout).toContain('kind: StatefulSet');
    }
  });
});
