import type { CreateUserInput, PatchUserInput, UserList, UserResponse } from '@codevector/console-api/people/people-contract';
import { api } from '../../../lib/api-client.ts';

export const listUsers = () => api<UserList>('GET', '/api/users');
export const createUser = (input: CreateUserInput) => api<UserResponse>('POST', '/api/users', input);
export const patchUser = (id: string, change: PatchUserInput) => api<UserResponse>('PATCH', `/api/users/${id}`, change);
