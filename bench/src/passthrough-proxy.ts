// The floor of a Node proxy, for `npm run bench -- gateway --passthrough`: a plain http server
// that reads the body, forwards the bytes with undici to UPSTREAM_URL and pipes the answer back —
// no auth, no parsing, no policy. What it costs per request is what any Node gateway pays for
// the HTTP on both sides on this machine; CodeVector's CPU minus this is its own work.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const upstream = new Pool(process.env['UPSTREAM_URL']!, { connections: 64 });
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    upstream
      .request({
        path: req.url ?? '/',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'sk-ant-upstream' },
        body,
      })
      .then(async (answer) => {
        res.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type'] ?? 'application/json') });
        for await (const chunk of answer.body) res.write(chunk);
        res.end();
      })
      .catch(() => {
        res.writeHead(502).end();
      });
  });
});
server.listen(Number(process.env['PORT']), '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));
