import type { Dashboard } from '@codevector/console-api/insights/insight-contract';
import { api } from '../../../lib/api-client.ts';

export const getDashboard = (days: number) => api<Dashboard>('GET', `/api/dashboard?days=${days}`);
