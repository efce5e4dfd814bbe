import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '@codevector/testbed/free-port';

/**
 * Shopify's toxiproxy (a real TCP fault-injection proxy, built from the Go module proxy by
 * scripts/toxiproxy-binary.sh and cached by version), driven through its HTTP API. The fault
 * suite puts it between a gateway and PostgreSQL to cut and slow that link.
 */
export type Toxiproxy = {
  api: string;
  /** Creates a proxy listening on a free 127.0.0.1 port in front of `upstream` (`host:port`). */
  proxy(name: string, upstream: string): Promise<ToxicProxy>;
  stop(): Promise<void>;
};

export type ToxicProxy = {
  name: string;
  port: number;
  /** Disabled: open connections are closed and new ones refused (a cut with resets). */
  setEnabled(enabled: boolean): Promise<void>;
  /** Adds a toxic (`latency`, `timeout`, `bandwidth`, `reset_peer`, …) on one direction. */
  addToxic(name: string, type: string, attributes: Record<string, number>, stream?: 'upstream' | 'downstream'): Promise<void>;
  removeToxic(name: string): Promise<void>;
};

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** The cached binary's path (building it on first use). */
export function toxiproxyBinary(): string {
  return execFileSync('bash', [`${root}scripts/toxiproxy-binary.sh`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

export async function startToxiproxy(): Promise<Toxiproxy> {
  const port = await freePort();
  const child: ChildProcess = spawn(toxiproxyBinary(), ['-host', '127.0.0.1', '-port', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const output: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  process.once('exit', () => child.kill('SIGKILL'));
  const api = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (
    !(await fetch(`${api}/version`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`toxiproxy did not start:\n${output.join('')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const send = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${api}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`toxiproxy ${method} ${path}: ${response.status} ${await response.text()}`);
  };
  return {
    api,
    async proxy(name, upstream) {
      const listen = await freePort();
      await send('POST', '/proxies', { name, listen: `127.0.0.1:${listen}`, upstream, enabled: true });
      return {
        name,
        port: listen,
        setEnabled: (enabled) => send('POST', `/proxies/${name}`, { enabled }),
        addToxic: (toxic, type, attributes, stream = 'downstream') =>
          send('POST', `/proxies/${name}/toxics`, { name: toxic, type, stream, toxicity: 1, attributes }),
        removeToxic: (toxic) => send('DELETE', `/proxies/${name}/toxics/${toxic}`),
      };
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}
