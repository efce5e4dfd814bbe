-- A resource's own history, newest first: the operator asks "is this refusal already the last
-- word on this object?" before writing it again (operator/src/store-resource.ts), and the console
-- opens one object's history; both by target_id, which no index covered.
create index audit_log_target_id_at_idx on audit_log (target_id, at desc, id desc) where target_id is not null;
