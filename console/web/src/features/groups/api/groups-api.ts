import type { Ok } from '@codevector/console-api/http/http-contract';
import type { CreatedGroup, GroupInput, GroupList } from '@codevector/console-api/people/people-contract';
import { api } from '../../../lib/api-client.ts';

export const listGroups = () => api<GroupList>('GET', '/api/groups');
export const createGroup = (input: GroupInput) => api<CreatedGroup>('POST', '/api/groups', input);
export const addMember = (groupId: string, userId: string) => api<Ok>('POST', `/api/groups/${groupId}/members`, { userId });
export const removeMember = (groupId: string, userId: string) => api<Ok>('DELETE', `/api/groups/${groupId}/members/${userId}`);
