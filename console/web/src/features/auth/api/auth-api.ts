import type { LoginInput, SessionInfo, SignInOptions } from '@codevector/console-api/auth/auth-contract';
import type { Ok } from '@codevector/console-api/http/http-contract';
import { api } from '../../../lib/api-client.ts';

export const getSession = () => api<SessionInfo>('GET', '/api/session');
export const signIn = (input: LoginInput) => api<SessionInfo>('POST', '/api/auth/login', input);
export const signOut = () => api<Ok>('POST', '/api/auth/logout');
export const getSignInOptions = () => api<SignInOptions>('GET', '/api/auth/providers');
