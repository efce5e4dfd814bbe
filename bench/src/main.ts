// `npm run bench -- <name> [args]`: each benchmark is a module exporting run(args) that writes
// bench/results/<name>.json. Register new ones here.
const benches: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
  operator: () => import('./operator.ts'),
  gateway: () => import('./gateway.ts'),
  console: () => import('./console.ts'),
  audit: () => import('./audit.ts'),
  secrets: () => import('./secrets.ts'),
};

const [name, ...args] = process.argv.slice(2);
const load = name ? benches[name] : undefined;
if (!load) {
  console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}>`);
  process.exit(2);
}
await (await load()).run(args);
