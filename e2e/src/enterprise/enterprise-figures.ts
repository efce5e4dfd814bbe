import { writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Hands what a test measured to run-enterprise.ts (`npm run test:enterprise`), which puts it in
 * bench/results/enterprise.json. Outside that runner (a file run by hand) it only logs.
 */
export function recordEnterpriseFigures(part: string, figures: Record<string, number | string | boolean>): void {
  console.log(`[enterprise] ${part}: ${JSON.stringify(figures)}`);
  const dir = process.env['CODEVECTOR_ENTERPRISE_FIGURES'];
  if (dir) writeFileSync(path.join(dir, `${part}.json`), `${JSON.stringify(figures)}\n`);
}
