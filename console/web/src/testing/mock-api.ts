// Component tests stub the network and nothing else: real components, real router and api
// client, and `fetch` answering from a table of routes. Every call is recorded, so a test can
// assert what the page asked the API for.
import { vi } from 'vitest';

export type ApiCall = { method: string; path: string; query: URLSearchParams; body: unknown };
type Answer = unknown | { status: number; body: unknown } | Promise<unknown>;
export type Routes = Record<string, (call: ApiCall) => Answer>;

/** `{ status, body }` for an answer other than 200 with a JSON body. */
export const reply = (status: number, body: unknown) => ({ [statusMark]: true, status, body });
const statusMark = Symbol('reply');

/** Replaces `fetch` with `routes` (keyed "METHOD /path", query ignored); unknown routes answer 404. */
export function mockApi(routes: Routes) {
  const calls: ApiCall[] = [];
  const fetchMock = vi.fn(async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input), 'http://localhost');
    const method = init?.method ?? 'GET';
    const call = { method, path: url.pathname, query: url.searchParams, body: init?.body ? JSON.parse(String(init.body)) : undefined };
    calls.push(call);
    const route = routes[`${method} ${url.pathname}`];
    const answer = route ? await route(call) : reply(404, { error: { code: 'CON_NOT_FOUND', message: 'Not found.' } });
    const { status, body } =
      typeof answer === 'object' && answer !== null && statusMark in answer
        ? (answer as unknown as { status: number; body: unknown })
        : { status: 200, body: answer };
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  });
  vi.stubGlobal('fetch', fetchMock);
  return {
    calls,
    /** The calls made to one route, in order. */
    callsTo: (method: string, path: string) => calls.filter((c) => c.method === method && c.path === path),
  };
}

/** A promise and the function that settles it: lets a test hold an answer back. */
export function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
