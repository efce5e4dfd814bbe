-- Grants for 0310 (docs/adr/0400): the gateway counts aggregated refusals; the console reads the
-- counts beside the audit rows they belong to.
grant select, insert, update on gateway_refusal_windows to codevector_gateway;
grant select on gateway_refusal_windows to codevector_console;
