import type { ResourceKind, ResourceList } from '@codevector/console-api/resources/resource-contract';
import { api } from '../../../lib/api-client.ts';

export const listResources = (kind: ResourceKind) => api<ResourceList>('GET', `/api/resources/${kind}`);
