#!/usr/bin/env node
// `codevector <command>`: the gateway's command line. Node 24 runs the TypeScript sources directly.
const [command, ...args] = process.argv.slice(2);
if (command === 'scan') {
  const { runScanCli } = await import('../src/scan-cli.ts');
  process.exitCode = await runScanCli(args);
} else if (command === 'route') {
  const { runRouteCli } = await import('../src/route-cli.ts');
  process.exitCode = await runRouteCli(args);
} else {
  process.stderr.write(
    'usage: codevector scan [--rules <SecretRule manifest>...] [--reveal] < body.json\n       codevector route <model-name>... [--manifests <file or folder>...] [--json]\n',
  );
  process.exitCode = 2;
}
