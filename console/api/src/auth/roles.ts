export const roles = ['admin', 'auditor', 'member'] as const;
export type Role = (typeof roles)[number];
