import type { FastifyInstance } from 'fastify';
import type { ProxyDeps } from './proxy-request.ts';

/** WebSocket mode of the Responses API (GET /v1/responses upgrade), which Codex tries first. */
export function attachResponsesWebSocket(app: FastifyInstance, _deps: ProxyDeps): void {
  app.server.on('upgrade', (req, socket) => {
    const body = JSON.stringify({ error: { message: 'WebSocket mode is not available; use POST /v1/responses.', type: 'invalid_request_error', param: null, code: 'websocket_unsupported' } });
    socket.end(`HTTP/1.1 426 Upgrade Required\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    void req;
  });
}
