import { apiCategory, apiVersion } from './api-group.ts';
import type { ResourceKind } from './resource-kinds.ts';
import { secretDetectorPacks } from './secret-rule.ts';
import { type JsonSchemaProps, toStructuralSchema } from './to-structural-schema.ts';

/**
 * docs/crd-reference.md, rendered from the same structural schemas as the CRDs, so the
 * reference can never disagree with what the apiserver enforces.
 */
export function renderCrdReference(kinds: readonly ResourceKind[]): string {
  const out: string[] = [
    '# CRD reference',
    '',
    '<!-- Generated from the zod schemas in crds/src by crds/src/generate-crds.ts: do not edit. Regenerate with `npm run gen:crds`. -->',
    '',
    `Every CodeVector resource is namespaced and belongs to \`${apiVersion}\` and the \`${apiCategory}\` category, so`,
    `\`kubectl get ${apiCategory} -A\` lists them all. Every resource has a status subresource with \`observedGeneration\` and a`,
    '`Ready` condition written by the operator. Realistic manifests are in [`examples/`](../examples).',
    '',
    'Rules the OpenAPI schema cannot express are CEL rules (`x-kubernetes-validations`) checked by the apiserver; the same',
    'rules, with the same messages, are checked by the zod schemas in `@codevector/crds`, listed below as "Rule:". USD',
    'amounts in a spec are whole numbers (`500`) or decimal strings (`"12.50"`), never floats, so money stays exact.',
    '',
    '| Kind | Plural | Short names | Description |',
    '| --- | --- | --- | --- |',
    ...kinds.map(
      (k) =>
        `| [${k.kind}](#${k.kind.toLowerCase()}) | \`${k.plural}\` | ${k.shortNames.map((s) => `\`${s}\``).join(', ')} | ${cell(k.description)} |`,
    ),
    '',
  ];
  for (const kind of kinds) {
    out.push(
      `## ${kind.kind}`,
      '',
      kind.description,
      '',
      `\`kubectl get\` columns: ${[...kind.printerColumns.filter((c) => !c.priority).map((c) => c.name.toUpperCase()), 'READY', 'AGE'].join(', ')}.`,
    );
    const wide = kind.printerColumns.filter((c) => c.priority);
    if (wide.length > 0) out.push(`With \`-o wide\` also: ${wide.map((c) => c.name.toUpperCase()).join(', ')}.`);
    out.push('');
    for (const [part, schema] of [
      ['spec', toStructuralSchema(kind.specSchema)],
      ['status', toStructuralSchema(kind.statusSchema)],
    ] as const) {
      out.push(`### ${kind.kind}.${part}`, '', schema.description ?? '', '');
      const rules = validationNotes(schema);
      if (rules.length > 0) out.push(...rules.map((r) => `- ${r}`), '');
      out.push('| Field | Type | Required | Description |', '| --- | --- | --- | --- |');
      for (const row of fieldRows(schema, '')) out.push(row);
      out.push('');
    }
    if (kind.kind === 'SecretRule') {
      out.push('### Detector packs', '', '| Pack | Finds |', '| --- | --- |');
      for (const [pack, text] of Object.entries(secretDetectorPacks)) out.push(`| \`${pack}\` | ${cell(text)} |`);
      out.push('');
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}

function fieldRows(schema: JsonSchemaProps, prefix: string): string[] {
  const rows: string[] = [];
  const required = new Set(schema.required ?? []);
  for (const [name, field] of Object.entries(schema.properties ?? {})) {
    const path = `${prefix}${name}`;
    const notes = [...constraintNotes(field), ...validationNotes(field)];
    rows.push(
      `| \`${path}\` | ${typeName(field)} | ${required.has(name) ? 'yes' : ''} | ${cell([field.description ?? '', ...notes].join(' '))} |`,
    );
    const element = field.type === 'array' ? field.items : field;
    if (element?.properties) rows.push(...fieldRows(element, `${path}${field.type === 'array' ? '[]' : ''}.`));
  }
  return rows;
}

function typeName(field: JsonSchemaProps): string {
  if (field['x-kubernetes-int-or-string']) return 'integer or string';
  if (field.type === 'array') return `[]${field.items ? typeName(field.items) : 'object'}`;
  if (field.type === 'object' && field.additionalProperties) return `map[string]${typeName(field.additionalProperties)}`;
  return field.type ?? 'object';
}

function constraintNotes(field: JsonSchemaProps): string[] {
  const notes: string[] = [];
  const code = (v: unknown) => `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;
  if (Array.isArray(field.enum)) notes.push(`One of ${field.enum.map(code).join(', ')}.`);
  if (field.default !== undefined) notes.push(`Default ${code(field.default)}.`);
  if (field.minimum !== undefined) notes.push(`${field.exclusiveMinimum ? 'Greater than' : 'At least'} ${field.minimum}.`);
  if (field.maximum !== undefined) notes.push(`${field.exclusiveMaximum ? 'Less than' : 'At most'} ${field.maximum}.`);
  if (field.minLength !== undefined || field.maxLength !== undefined)
    notes.push(`Length ${field.minLength ?? 0}–${field.maxLength ?? '∞'}.`);
  if (field.pattern !== undefined) notes.push(`Pattern ${code(field.pattern)}.`);
  if (field.format !== undefined) notes.push(`Format ${code(field.format)}.`);
  if (field.minItems !== undefined || field.maxItems !== undefined) notes.push(`${field.minItems ?? 0}–${field.maxItems ?? '∞'} items.`);
  if (field.maxProperties !== undefined) notes.push(`At most ${field.maxProperties} entries.`);
  if (field['x-kubernetes-list-type'] === 'set') notes.push('Entries are unique.');
  const keys = field['x-kubernetes-list-map-keys'];
  if (Array.isArray(keys)) notes.push(`Entries are unique by ${keys.map(code).join(', ')}.`);
  return notes;
}

/** CEL rules as prose: their messages are written for people, the expressions for the apiserver. */
function validationNotes(field: JsonSchemaProps): string[] {
  return (field['x-kubernetes-validations'] ?? []).map(
    ({ rule, message }) => `${rule.includes('oldSelf') ? 'On update: ' : 'Rule: '}${message}.`,
  );
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}
