-- Operator bookkeeping (issue 3). Deletes are attributed through the admission webhook: on a
-- DELETE the webhook records who asked, keyed by the object's uid, before the apiserver sets
-- deletionTimestamp; the finalizer reconcile reads it when it writes `<kind>.deleted`, which may
-- be much later (the operator may have been down).
create table operator_delete_intents (
  uid text primary key,
  kind text not null,
  namespace text not null,
  name text not null,
  actor text not null,
  at timestamptz not null default now()
);
