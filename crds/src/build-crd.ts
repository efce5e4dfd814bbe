import { apiCategory, apiGroup, apiVersionName } from './api-group.ts';
import type { PrinterColumn, ResourceKind } from './resource-kinds.ts';
import { type JsonSchemaProps, toStructuralSchema } from './to-structural-schema.ts';

export type CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[]; categories: string[] };
    scope: 'Namespaced';
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: JsonSchemaProps };
    }[];
  };
};

// kstatus, Argo CD and Flux read Ready the same way; AGE is what kubectl shows when a CRD
// declares no columns, and declaring any drops it, so it is added back last.
const readyColumn: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Whether every gateway enforces the resource.',
};
const ageColumn: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since creation.',
};

/**
 * The CustomResourceDefinition of one kind, with its schema converted from zod.
 * @throws Error when a schema has no structural form (see toStructuralSchema).
 */
export function buildCrd(resource: ResourceKind): CustomResourceDefinition {
  const openAPIV3Schema: JsonSchemaProps = {
    description: resource.description,
    type: 'object',
    required: ['spec'],
    properties: {
      apiVersion: {
        description:
          'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.',
        type: 'string',
      },
      kind: {
        description:
          'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase.',
        type: 'string',
      },
      // The apiserver allows nothing here but the type: ObjectMeta's schema is built in (and so is its kubectl explain text).
      metadata: { type: 'object' },
      spec: toStructuralSchema(resource.specSchema),
      status: toStructuralSchema(resource.statusSchema),
    },
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${resource.plural}.${apiGroup}`, labels: { 'app.kubernetes.io/part-of': 'codevector' } },
    spec: {
      group: apiGroup,
      names: {
        kind: resource.kind,
        listKind: resource.listKind,
        plural: resource.plural,
        singular: resource.singular,
        shortNames: [...resource.shortNames],
        categories: [apiCategory],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: apiVersionName,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [...resource.printerColumns, readyColumn, ageColumn],
          schema: { openAPIV3Schema },
        },
      ],
    },
  };
}
