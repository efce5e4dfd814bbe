/** The API group every CodeVector resource belongs to (DESIGN §3). */
export const apiGroup = 'codevector.dev';
/** Still alpha: fields may change between releases until the API graduates to v1beta1. */
export const apiVersionName = 'v1alpha1';
export const apiVersion = `${apiGroup}/${apiVersionName}` as const;
/** `kubectl get codevector` lists every kind of the API. */
export const apiCategory = 'codevector';
