import type { ConnectInfo } from '@codevector/console-api/insights/insight-contract';
import type { ApiKeyList, ApiKeyResponse, CreateApiKeyInput, CreatedApiKey } from '@codevector/console-api/people/people-contract';
import { api } from '../../../lib/api-client.ts';

export const listApiKeys = (scope: 'mine' | 'all') => api<ApiKeyList>('GET', `/api/api-keys${scope === 'all' ? '?scope=all' : ''}`);
export const createApiKey = (input: CreateApiKeyInput) => api<CreatedApiKey>('POST', '/api/api-keys', input);
export const revokeApiKey = (id: string) => api<ApiKeyResponse>('POST', `/api/api-keys/${id}/revoke`);
export const getConnectInfo = () => api<ConnectInfo>('GET', '/api/connect');
