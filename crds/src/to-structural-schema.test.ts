import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildCrd } from './build-crd.ts';
import { resourceKinds } from './resource-kinds.ts';
import { type JsonSchemaProps, toStructuralSchema } from './to-structural-schema.ts';
import { withCelRules } from './with-cel-rules.ts';

/** Every node below `schema`, with its path as kubectl explain spells it. */
function* walk(schema: JsonSchemaProps, path: string): Generator<[string, JsonSchemaProps]> {
  yield [path, schema];
  for (const [name, child] of Object.entries(schema.properties ?? {})) yield* walk(child, `${path}.${name}`);
  if (schema.items) yield* walk(schema.items, `${path}[]`);
  if (schema.additionalProperties) yield* walk(schema.additionalProperties, `${path}.*`);
}

describe('toStructuralSchema', () => {
  const crds = resourceKinds.map((kind) => buildCrd(kind));
  const roots = crds.map((crd) => [crd.spec.names.kind, crd.spec.versions[0]!.schema.openAPIV3Schema] as const);

  it('gives every field of every kind a description, so kubectl explain reads well', () => {
    const missing: string[] = [];
    for (const [kind, root] of roots) {
      for (const [path, node] of walk(root, kind.toLowerCase())) {
        // metadata: the apiserver forbids anything but its type and explains ObjectMeta itself.
        // Scalar list items and map values are described by the field that holds them.
        const describedByParent = path.endsWith('[]') || path.endsWith('.*') ? node.type !== 'object' : false;
        if (path.endsWith('.metadata') || describedByParent) continue;
        if (!node.description?.trim()) missing.push(path);
      }
    }
    expect(missing).toEqual([]);
  });

  it('types every node (or marks it int-or-string) and uses no unions or references', () => {
    for (const [kind, root] of roots) {
      for (const [path, node] of walk(root, kind)) {
        if (node['x-kubernetes-int-or-string']) {
          expect(node.anyOf, path).toEqual([{ type: 'integer' }, { type: 'string' }]);
          continue;
        }
        expect(node.type, path).toBeTypeOf('string');
        expect(
          Object.keys(node).filter((k) => ['$ref', '$defs', 'anyOf', 'oneOf', 'allOf', 'not', 'const', 'nullable'].includes(k)),
          path,
        ).toEqual([]);
      }
    }
  });

  it('carries CEL rules from zod metadata into x-kubernetes-validations', () => {
    const schema = withCelRules(z.strictObject({ a: z.int().optional() }).describe('x'), [
      { rule: 'has(self.a)', message: 'set a', check: (v) => v.a !== undefined },
    ]);
    expect(toStructuralSchema(schema)).toEqual({
      description: 'x',
      type: 'object',
      'x-kubernetes-validations': [{ rule: 'has(self.a)', message: 'set a' }],
      properties: { a: { type: 'integer' } },
    });
  });

  it('drops what Kubernetes rejects or spells differently: additionalProperties false, safe-integer bounds, date-time patterns', () => {
    const schema = z.strictObject({ n: z.int(), at: z.iso.datetime() });
    expect(toStructuralSchema(schema)).toEqual({
      type: 'object',
      required: ['n', 'at'],
      properties: { n: { type: 'integer' }, at: { type: 'string', format: 'date-time' } },
    });
  });

  it('refuses a union, naming the field, instead of emitting a schema the apiserver would reject', () => {
    const schema = z.object({ spec: z.object({ value: z.union([z.string(), z.boolean()]) }) });
    expect(() => toStructuralSchema(schema)).toThrow('.spec.value: no type');
  });
});
