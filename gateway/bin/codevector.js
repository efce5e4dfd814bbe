#!/usr/bin/env node
// `codevector <command>`: the gateway's command line. Node 24 runs the TypeScript sources directly.
const [command, ...args] = process.argv.slice(2);
if (command === 'scan') {
  const { runScanCli } = await import('../src/scan-cli.ts');
  process.exitCode = await runScanCli(args);
} else {
  process.stderr.write('usage: codevector scan [--rules <SecretRule manifest>...] [--reveal] < body.json\n');
  process.exitCode = 2;
}
