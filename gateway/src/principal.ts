import type { Subject } from '@codevector/core/config-snapshot';

/** Who a request is for: the virtual key and its owner, as policies need them. */
export type Principal = {
  keyId: string;
  keyName: string;
  keyPrefix: string;
  userId: string;
  email: string;
  groups: readonly string[];
};

/**
 * The counter key a RateLimit or Budget subject uses for this principal, or null when the
 * subject does not cover it. `eachUser` gives every user their own counter; the others name one.
 */
export function subjectKey(subject: Subject, principal: Principal): string | null {
  switch (subject.kind) {
    case 'global':
      return 'global';
    case 'eachUser':
      return `user:${principal.userId}`;
    case 'user':
      return subject.name === principal.email || subject.name === principal.userId ? `user:${principal.userId}` : null;
    case 'group':
      return subject.name !== undefined && principal.groups.includes(subject.name) ? `group:${subject.name}` : null;
    case 'apiKey':
      return subject.name === principal.keyName || subject.name === principal.keyId || subject.name === principal.keyPrefix
        ? `apiKey:${principal.keyId}`
        : null;
  }
}
