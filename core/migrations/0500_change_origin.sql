-- Where a change came from (operator/src/webhook/change-origin.ts): the GitOps delivery unit,
-- repository and revision, or the client a person used. Admin changes carry it in
-- audit_log.detail->'origin'; a delete's origin is recorded with its intent, at admission.
alter table operator_delete_intents add column origin jsonb;

-- The console's origin filter scans only rows that have one (admin changes, not the gateway's
-- millions of rejections), newest first.
create index audit_log_origin_at_idx on audit_log (at desc, id desc) where detail ? 'origin';
