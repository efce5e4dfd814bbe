import { z } from 'zod';

// SCIM 2.0 (RFC 7643 resources, RFC 7644 protocol) as this console serves it: the core User and
// Group schemas, ListResponse, PatchOp and Error messages. Attribute names are SCIM's, matched
// case-insensitively on input as RFC 7643 §2.1 requires.

export const scimSchemas = {
  user: 'urn:ietf:params:scim:schemas:core:2.0:User',
  group: 'urn:ietf:params:scim:schemas:core:2.0:Group',
  list: 'urn:ietf:params:scim:api:messages:2.0:ListResponse',
  patch: 'urn:ietf:params:scim:api:messages:2.0:PatchOp',
  error: 'urn:ietf:params:scim:api:messages:2.0:Error',
  serviceProviderConfig: 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig',
} as const;

export const scimContentType = 'application/scim+json';

/** Entra ID sends booleans as "True"/"False" strings in PATCH values; SCIM means the boolean. */
const scimBoolean = z.preprocess((value) => (typeof value === 'string' ? value.toLowerCase() === 'true' : value), z.boolean());
const text = (max: number) => z.string().max(max);

/** A User as an IdP writes it (POST, PUT, and the result of applying a PATCH). */
export const scimUserInputSchema = z.looseObject({
  userName: text(320).trim().min(1, 'userName is required'),
  externalId: text(256).optional(),
  displayName: text(200).optional(),
  name: z.looseObject({ formatted: text(200).optional(), givenName: text(100).optional(), familyName: text(100).optional() }).optional(),
  emails: z
    .array(z.looseObject({ value: text(320), primary: scimBoolean.optional(), type: text(32).optional() }))
    .max(10)
    .optional(),
  active: scimBoolean.optional(),
});
export type ScimUserInput = z.infer<typeof scimUserInputSchema>;

/** A Group as an IdP writes it. Members are users' ids as this service issued them. */
export const scimGroupInputSchema = z.looseObject({
  displayName: text(200).trim().min(1, 'displayName is required'),
  externalId: text(256).optional(),
  members: z
    .array(
      z.looseObject({ value: z.string().uuid('members[].value must be a user id this service issued'), display: text(320).optional() }),
    )
    .max(10_000)
    .optional(),
});
export type ScimGroupInput = z.infer<typeof scimGroupInputSchema>;

export const scimPatchSchema = z.looseObject({
  schemas: z.array(z.string()).refine((s) => s.includes(scimSchemas.patch), `schemas must include ${scimSchemas.patch}`),
  Operations: z
    .array(z.looseObject({ op: z.string(), path: z.string().max(1000).optional(), value: z.unknown().optional() }))
    .min(1)
    .max(1000),
});

export type ScimMeta = { resourceType: 'User' | 'Group'; created: string; lastModified: string; location: string; version: string };
export type ScimUser = ScimUserInput & { schemas: string[]; id: string; active: boolean; meta: ScimMeta };
export type ScimGroup = ScimGroupInput & { schemas: string[]; id: string; members: { value: string; display?: string }[]; meta: ScimMeta };

/** RFC 7644 §3.12 error `scimType`s this service answers with. */
export type ScimErrorType = 'invalidFilter' | 'invalidSyntax' | 'invalidValue' | 'uniqueness' | 'mutability' | 'noTarget' | 'tooMany';

/** An error in SCIM's own shape (RFC 7644 §3.12), thrown by the SCIM room and rendered by its error handler. */
export class ScimError extends Error {
  readonly status: number;
  readonly scimType: ScimErrorType | undefined;
  constructor(status: number, message: string, scimType?: ScimErrorType) {
    super(message);
    this.status = status;
    this.scimType = scimType;
  }

  body() {
    return {
      schemas: [scimSchemas.error],
      status: String(this.status),
      ...(this.scimType ? { scimType: this.scimType } : {}),
      detail: this.message,
    };
  }
}

/** Parses an IdP's resource, naming the first bad attribute the way SCIM clients show it. */
export function parseScim<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(lowerKeysToSchema(value, schema));
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.join('.');
  throw new ScimError(400, field ? `${field}: ${issue.message}` : issue.message, 'invalidValue');
}

/**
 * Attribute names are case-insensitive (RFC 7643 §2.1): `username` means `userName`. Top-level
 * keys are mapped onto the schema's spelling; unknown keys stay as sent.
 */
function lowerKeysToSchema(value: unknown, schema: z.ZodType): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  if (!shape) return value;
  const byLower = new Map(Object.keys(shape).map((k) => [k.toLowerCase(), k]));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [byLower.get(k.toLowerCase()) ?? k, v]));
}
