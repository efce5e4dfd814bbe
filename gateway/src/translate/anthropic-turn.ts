import { StringDecoder } from 'node:string_decoder';
import type { Dispatcher } from 'undici';
import type { ProviderRuntime } from '../snapshot-store.ts';
import { createSseUsageTap, type SseUsageTap } from '../usage.ts';
import { createSseReader, parseEventData } from './sse-reader.ts';
import type { Json } from './translator.ts';

export type AnthropicTurnEvents = {
  /** The upstream answered with headers (its status; the stream follows when 2xx). */
  onStart(status: number): void;
  /** One Anthropic stream event, parsed. */
  onEvent(event: Json): void;
  /** The stream ended (or the error body arrived whole, as text). */
  onEnd(errorBody: string | null): void;
  /** The request failed before or during the answer. */
  onError(error: Error, started: boolean): void;
};

/**
 * One streamed Messages request to an Anthropic Provider, for a Responses WebSocket turn that
 * the gateway translates (ADR 0124): the WebSocket has no HTTP response to relay into, so the
 * events arrive parsed and the caller sends the client its own API's events. `tap` follows the
 * upstream's usage exactly as for an HTTP stream (ADR 0114).
 */
export function streamAnthropicTurn(
  provider: ProviderRuntime,
  body: Json,
  clientHeaders: string[],
  events: AnthropicTurnEvents,
): { tap: SseUsageTap; abort(): void } {
  const tap = createSseUsageTap('anthropic');
  const payload = Buffer.from(JSON.stringify(body));
  const headers = [
    ...clientHeaders,
    'content-type',
    'application/json',
    'anthropic-version',
    '2023-06-01',
    'x-api-key',
    provider.apiKey ?? '',
  ];
  const configured = Object.entries(provider.provider.headers);
  for (const [name, value] of configured) headers.push(name.toLowerCase(), value);
  headers.push('content-length', String(payload.length));
  const path = provider.basePath.endsWith('/v1') ? `${provider.basePath}/messages` : `${provider.basePath}/v1/messages`;
  const reader = createSseReader();
  const text = new StringDecoder('utf8');
  let controller: Dispatcher.DispatchController | null = null;
  let aborted = false;
  let status = 0;
  const error: string[] = [];
  const handle = (piece: string) => {
    tap.push(piece);
    for (const event of reader.push(piece)) {
      const data = parseEventData(event.data);
      if (data) events.onEvent(data);
    }
  };
  provider.upstream.dispatch(
    { path, method: 'POST', headers, body: payload },
    {
      onRequestStart(ctrl) {
        controller = ctrl;
        if (aborted) ctrl.abort(new Error('turn cancelled'));
      },
      onResponseStart(_ctrl, statusCode) {
        if (statusCode < 200) return;
        status = statusCode;
        events.onStart(statusCode);
      },
      onResponseData(_ctrl, chunk) {
        if (status >= 400) error.push(chunk.toString('utf8'));
        else handle(text.write(chunk));
      },
      onResponseEnd() {
        if (status >= 400) {
          events.onEnd(error.join(''));
          return;
        }
        handle(text.end());
        for (const event of reader.end()) {
          const data = parseEventData(event.data);
          if (data) events.onEvent(data);
        }
        events.onEnd(null);
      },
      onResponseError(_ctrl, failure) {
        events.onError(failure, status !== 0);
      },
    },
  );
  return {
    tap,
    abort() {
      aborted = true;
      controller?.abort(new Error('turn cancelled'));
    },
  };
}
