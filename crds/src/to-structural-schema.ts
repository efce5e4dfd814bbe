import { z } from 'zod';

/** An OpenAPI v3 schema node as CustomResourceDefinitions take it (apiextensions/v1 JSONSchemaProps). */
export type JsonSchemaProps = {
  description?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  properties?: Record<string, JsonSchemaProps>;
  items?: JsonSchemaProps;
  additionalProperties?: JsonSchemaProps;
  required?: string[];
  anyOf?: JsonSchemaProps[];
  format?: string;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  'x-kubernetes-validations'?: { rule: string; message: string; fieldPath?: string; reason?: string }[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-int-or-string'?: boolean;
  [keyword: string]: unknown;
};

// Keywords a structural schema may carry besides the child keywords handled below. Anything else
// in zod's output means a zod construct we have not mapped; failing loudly beats a CRD the
// apiserver rejects, or one that silently validates less than zod does.
const valueKeywords = new Set([
  'description',
  'type',
  'format',
  'default',
  'enum',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
]);
const childKeywords = ['required', 'properties', 'items', 'additionalProperties', 'anyOf'];

/**
 * Converts a zod schema to the structural OpenAPI v3 subset Kubernetes accepts: every node typed,
 * no references, no free-form unions (except int-or-string), no additionalProperties beside
 * properties. CEL rules and list/map markers come through from `.meta()` untouched.
 * @throws Error naming the path of the first node that has no structural form.
 */
export function toStructuralSchema(schema: z.ZodType): JsonSchemaProps {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw', cycles: 'throw', reused: 'inline' });
  delete json.$schema;
  return structural(json as Record<string, unknown>, '');
}

function structural(node: Record<string, unknown>, path: string): JsonSchemaProps {
  const at = path || '<root>';
  const out: JsonSchemaProps = {};
  if (typeof node['description'] === 'string') out.description = node['description'];

  // int-or-string: the one union a structural schema allows, in exactly this form. Its bounds
  // live in the CEL rule, since value keywords would apply to both branches at once.
  if (node['x-kubernetes-int-or-string'] === true) {
    const types = (node['anyOf'] as { type?: string }[] | undefined)?.map((branch) => branch.type).sort();
    if (types?.join() !== 'integer,string') throw new Error(`${at}: x-kubernetes-int-or-string needs a union of an integer and a string`);
    for (const [key, value] of Object.entries(node)) {
      if (key.startsWith('x-kubernetes-')) out[key] = value;
    }
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
    return out;
  }

  if (typeof node['type'] !== 'string') throw new Error(`${at}: no type (a union or unrepresentable zod type?)`);
  out.type = node['type'] as JsonSchemaProps['type'];
  for (const [key, value] of Object.entries(node)) {
    if (key === 'description' || key === 'type' || childKeywords.includes(key)) continue;
    if (key === 'propertyNames') continue; // zod's record keys; Kubernetes has no such keyword (key rules go in CEL).
    if (key === 'pattern' && node['format'] === 'date-time') continue; // zod's spelled-out RFC 3339; the format already checks it.
    if ((key === 'minimum' && value === Number.MIN_SAFE_INTEGER) || (key === 'maximum' && value === Number.MAX_SAFE_INTEGER)) continue; // z.int() bounds, not ours.
    if (!valueKeywords.has(key)) throw new Error(`${at}: keyword ${key} has no structural form`);
    out[key] = value;
  }

  if (Array.isArray(node['required']) && node['required'].length > 0) out.required = node['required'] as string[];
  if (node['properties']) {
    out.properties = {};
    for (const [name, child] of Object.entries(node['properties'] as Record<string, Record<string, unknown>>)) {
      out.properties[name] = structural(child, `${path}.${name}`);
    }
  }
  if (node['items']) {
    if (Array.isArray(node['items'])) throw new Error(`${at}: tuple items have no structural form`);
    out.items = structural(node['items'] as Record<string, unknown>, `${path}[]`);
  }
  const additional = node['additionalProperties'];
  // z.strictObject says false; the apiserver prunes unknown fields and kubectl's strict field
  // validation reports them, so the keyword is both forbidden and unnecessary there.
  if (typeof additional === 'object' && additional !== null) {
    if (out.properties) throw new Error(`${at}: properties and additionalProperties are mutually exclusive`);
    out.additionalProperties = structural(additional as Record<string, unknown>, `${path}.*`);
  }
  if (node['anyOf'] || node['oneOf'] || node['allOf'] || node['not'] || node['$ref'])
    throw new Error(`${at}: unions and references have no structural form`);
  return out;
}
