import { startFakeProvider } from './fake-provider.ts';

// Runs the fake provider as its own process (benchmarks keep its CPU apart from the gateway's).
// Reports {port} over IPC when forked, or prints it.
const port = Number(process.env['FAKE_PROVIDER_PORT'] ?? 0);
const fake = await startFakeProvider({ port, record: false, latencyMs: Number(process.env['FAKE_PROVIDER_LATENCY_MS'] ?? 0) });
if (process.send) process.send({ port: fake.port });
else console.log(JSON.stringify({ url: fake.url }));
process.on('message', (message) => {
  if (message === 'cpu-usage' && process.send) process.send({ cpu: process.cpuUsage(), rss: process.memoryUsage().rss });
});
process.once('SIGTERM', () => {
  fake.close().then(() => process.exit(0));
});
