-- AuditSinks (operator/src/audit-sink/, ADR 0306): where the audit log streams to, and how far
-- each sink has acknowledged. Delivery follows the hash chain (audit_chain.seq), so a receiver
-- can check completeness and integrity; the cursor moves only after the sink acknowledged.
create table audit_sinks (
  uid text primary key,
  namespace text not null,
  name text not null,
  generation bigint not null,
  spec jsonb not null,
  updated_at timestamptz not null default now(),
  unique (namespace, name)
);

create table audit_sink_cursors (
  sink_uid text primary key,
  delivered_seq bigint not null default 0,
  delivered_at timestamptz,
  last_error text,
  last_error_at timestamptz,
  failures bigint not null default 0
);
