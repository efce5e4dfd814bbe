import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { DatabasePool } from '@codevector/core/create-pool';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import { type ScimPatchOperation, scimPatch } from 'scim-patch';
import { type Filter, parse } from 'scim2-parse-filter';
import type { ConsoleConfig } from '../config.ts';
import {
  parseScim,
  ScimError,
  scimContentType,
  scimGroupInputSchema,
  scimPatchSchema,
  scimSchemas,
  scimUserInputSchema,
} from './scim-contract.ts';
import { createScimStore, type ScimFilter } from './scim-store.ts';

/**
 * SCIM 2.0 provisioning under /scim/v2 (RFC 7644): Users and Groups with `eq` filters, paging,
 * PATCH (Okta's and Entra ID's shapes), PUT and DELETE, plus ServiceProviderConfig. Bearer-token
 * auth with the token from a mounted Secret (CODEVECTOR_SCIM_TOKEN_FILE, re-read when it
 * changes) or CODEVECTOR_SCIM_TOKEN; answers in application/scim+json, errors in SCIM's shape.
 * Not registered at all when no token is configured.
 */
export const scimRoutes: FastifyPluginAsync<{ config: ConsoleConfig; pool: DatabasePool }> = async (app, deps) => {
  const token = tokenSource(deps.config);
  if (!token) return;
  const store = createScimStore(deps.pool, { idp: deps.config.CODEVECTOR_SCIM_IDP });

  await app.register(
    async (scim: FastifyInstance) => {
      scim.addContentTypeParser(scimContentType, { parseAs: 'string' }, (_request, body, done) => {
        try {
          done(null, JSON.parse(body as string));
        } catch {
          done(new ScimError(400, 'The body is not JSON.', 'invalidSyntax'), undefined);
        }
      });
      scim.addHook('onRequest', async (request) => {
        const expected = token();
        const given = request.headers.authorization ?? '';
        const digest = (text: string) => createHash('sha256').update(text).digest();
        // Compared as digests: equal length, constant time, whatever the caller sent.
        if (!expected || !timingSafeEqual(digest(given), digest(`Bearer ${expected}`))) {
          throw new ScimError(401, 'A valid bearer token is required.');
        }
      });
      // Groups with thousands of members exceed the console's 64 KB default.
      scim.addHook('onRoute', (route) => {
        route.bodyLimit = 4 * 1024 * 1024;
      });
      scim.setErrorHandler((error, request, reply) => {
        const status = (error as { statusCode?: number }).statusCode;
        const known =
          error instanceof ScimError
            ? error
            : status === 413
              ? new ScimError(413, 'The request is too large.', 'tooMany')
              : status && status < 500
                ? new ScimError(status, error instanceof Error ? error.message : 'Bad request.', 'invalidSyntax')
                : null;
        if (!known) request.log.error({ err: error }, 'SCIM request failed');
        const answer = known ?? new ScimError(500, 'Internal error.');
        if (answer.status === 401) void reply.header('www-authenticate', 'Bearer realm="scim"');
        void reply.status(answer.status).type(scimContentType).send(answer.body());
      });
      scim.setNotFoundHandler((request, reply) => {
        void reply
          .status(404)
          .type(scimContentType)
          .send(new ScimError(404, `No SCIM endpoint ${request.method} ${request.url}.`).body());
      });
      // Resources carry their location as a path; the absolute URL is the one this request came to.
      const send = <T>(reply: FastifyReply, status: number, body: T) =>
        reply
          .status(status)
          .type(scimContentType)
          .send(withLocations(body, `${reply.request.protocol}://${reply.request.host}`));

      scim.get('/ServiceProviderConfig', async (_request, reply) =>
        send(reply, 200, {
          schemas: [scimSchemas.serviceProviderConfig],
          patch: { supported: true },
          bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
          filter: { supported: true, maxResults: maxCount },
          changePassword: { supported: false },
          sort: { supported: false },
          etag: { supported: false },
          authenticationSchemes: [
            {
              type: 'oauthbearertoken',
              name: 'Bearer token',
              description: 'The token from the chart value scim.tokenSecret.',
              primary: true,
            },
          ],
        }),
      );

      scim.get<{ Querystring: Record<string, string> }>('/Users', async (request, reply) => {
        const page = paging(request.query);
        const found = await store.listUsers(parseFilter(request.query['filter']), page);
        return send(reply, 200, listResponse(found, page));
      });
      scim.get<{ Params: { id: string } }>('/Users/:id', async (request, reply) =>
        send(reply, 200, await store.getUser(request.params.id)),
      );
      scim.post('/Users', async (request, reply) => send(reply, 201, await store.createUser(parseScim(scimUserInputSchema, request.body))));
      scim.put<{ Params: { id: string } }>('/Users/:id', async (request, reply) => {
        const input = parseScim(scimUserInputSchema, request.body);
        return send(reply, 200, await store.replaceUser(request.params.id, () => input));
      });
      scim.patch<{ Params: { id: string } }>('/Users/:id', async (request, reply) => {
        const operations = patchOperations(request.body);
        const updated = await store.replaceUser(request.params.id, (current) =>
          parseScim(scimUserInputSchema, applyPatch(current, operations)),
        );
        return send(reply, 200, updated);
      });
      scim.delete<{ Params: { id: string } }>('/Users/:id', async (request, reply) => {
        await store.deleteUser(request.params.id);
        return reply.status(204).send();
      });

      scim.get<{ Querystring: Record<string, string> }>('/Groups', async (request, reply) => {
        const page = paging(request.query);
        const found = await store.listGroups(parseFilter(request.query['filter']), page, !excludesMembers(request.query));
        return send(reply, 200, listResponse(found, page));
      });
      scim.get<{ Params: { id: string }; Querystring: Record<string, string> }>('/Groups/:id', async (request, reply) =>
        send(reply, 200, await store.getGroup(request.params.id, !excludesMembers(request.query))),
      );
      scim.post('/Groups', async (request, reply) =>
        send(reply, 201, await store.createGroup(parseScim(scimGroupInputSchema, request.body))),
      );
      scim.put<{ Params: { id: string } }>('/Groups/:id', async (request, reply) => {
        const input = parseScim(scimGroupInputSchema, request.body);
        return send(reply, 200, await store.replaceGroup(request.params.id, () => ({ ...input, members: input.members ?? [] })));
      });
      scim.patch<{ Params: { id: string } }>('/Groups/:id', async (request, reply) => {
        const operations = patchOperations(request.body);
        const updated = await store.replaceGroup(request.params.id, (current) => {
          const next = parseScim(scimGroupInputSchema, applyPatch(current, operations));
          // Removing the last member removes the attribute: no members, not "unchanged".
          return { ...next, members: next.members ?? [] };
        });
        // RFC 7644 §3.5.2: 204 when the client did not ask for the resource back (Entra ID expects either).
        return send(reply, 200, updated);
      });
      scim.delete<{ Params: { id: string } }>('/Groups/:id', async (request, reply) => {
        await store.deleteGroup(request.params.id);
        return reply.status(204).send();
      });
    },
    { prefix: '/scim/v2' },
  );
};

const maxCount = 500;

function withLocations<T>(body: T, origin: string): T {
  const fix = (resource: { meta?: { location?: string } }) => {
    if (resource.meta?.location?.startsWith('/')) resource.meta.location = origin + resource.meta.location;
  };
  const list = (body as { Resources?: { meta?: { location?: string } }[] }).Resources;
  if (list) for (const resource of list) fix(resource);
  else fix(body as { meta?: { location?: string } });
  return body;
}

function paging(query: Record<string, string>): { startIndex: number; count: number } {
  // RFC 7644 §3.4.2.4: startIndex below 1 means 1, a negative count means 0.
  const startIndex = Math.max(1, Number.parseInt(query['startIndex'] ?? '1', 10) || 1);
  const requested = Number.parseInt(query['count'] ?? '100', 10);
  const count = Number.isNaN(requested) ? 100 : Math.min(maxCount, Math.max(0, requested));
  return { startIndex, count };
}

function listResponse<T>(found: { total: number; resources: T[] }, page: { startIndex: number }) {
  return {
    schemas: [scimSchemas.list],
    totalResults: found.total,
    startIndex: page.startIndex,
    itemsPerPage: found.resources.length,
    Resources: found.resources,
  };
}

const excludesMembers = (query: Record<string, string>) =>
  (query['excludedAttributes'] ?? '')
    .split(',')
    .map((a) => a.trim().toLowerCase())
    .includes('members');

/** `attr eq "value"` joined by `and`: what Okta, Entra ID and OneLogin send. Anything else is a 400. */
function parseFilter(text: string | undefined): ScimFilter {
  if (!text) return [];
  let tree: Filter;
  try {
    tree = parse(text);
  } catch {
    throw new ScimError(400, `The filter ${JSON.stringify(text.slice(0, 200))} does not parse.`, 'invalidFilter');
  }
  const out: ScimFilter = [];
  const walk = (node: Filter) => {
    if (node.op === 'and') for (const child of node.filters) walk(child);
    else if (node.op === 'eq' && typeof node.compValue === 'string') out.push({ attribute: node.attrPath, value: node.compValue });
    else throw new ScimError(400, 'Only eq comparisons joined by and are supported in filters.', 'invalidFilter');
  };
  walk(tree);
  return out;
}

function patchOperations(body: unknown): ScimPatchOperation[] {
  const patch = scimPatchSchema.safeParse(body);
  if (!patch.success) throw new ScimError(400, `Not a PatchOp: ${patch.error.issues[0]?.message ?? 'invalid'}.`, 'invalidSyntax');
  return patch.data.Operations.flatMap((operation) => {
    const op = operation.op.toLowerCase();
    if (op !== 'add' && op !== 'replace' && op !== 'remove')
      throw new ScimError(400, `Unknown PATCH op "${operation.op}".`, 'invalidSyntax');
    // Entra ID removes members by listing them ({value, $ref: null}); a member is its id, so
    // each becomes `members[value eq "<id>"]` rather than a deep-equal match on every field.
    if (op === 'remove' && operation.path?.toLowerCase() === 'members' && Array.isArray(operation.value)) {
      return operation.value.map((member) => {
        const id = String((member as { value?: unknown }).value ?? '');
        if (!/^[0-9a-f-]{36}$/i.test(id))
          throw new ScimError(400, 'members[].value must be a user id this service issued.', 'invalidValue');
        return { op: 'remove', path: `members[value eq "${id}"]` } as ScimPatchOperation;
      });
    }
    return [{ ...operation, op } as ScimPatchOperation];
  });
}

function applyPatch<T extends object>(resource: T, operations: ScimPatchOperation[]): unknown {
  const { meta: _meta, ...rest } = resource as T & { meta?: unknown };
  try {
    return scimPatch(structuredClone(rest) as never, operations);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ScimError(400, `The PATCH does not apply: ${message}`, /target/i.test(message) ? 'noTarget' : 'invalidValue');
  }
}

/** The expected token, re-read from its file when the file changes (a rotated Secret); null = SCIM off. */
function tokenSource(config: ConsoleConfig): (() => string | null) | null {
  const file = config.CODEVECTOR_SCIM_TOKEN_FILE;
  if (file) {
    let cached: { mtimeMs: number; token: string } | null = null;
    return () => {
      try {
        const { mtimeMs } = statSync(file);
        if (!cached || cached.mtimeMs !== mtimeMs) cached = { mtimeMs, token: readFileSync(file, 'utf8').trim() };
        return cached.token || null;
      } catch {
        return null;
      }
    };
  }
  const fixed = config.CODEVECTOR_SCIM_TOKEN;
  return fixed ? () => fixed : null;
}
