-- Each audit entry belongs to a commune, so a commune's admin reads its own commune's trail and
-- nothing of another's; entries of no commune (the installation's own work, sign-ins with a name
-- nobody has) are for installation admins only. Entries written before are given the commune of
-- the person or phone that made them, or of the household they name.
alter table audit_log add column commune_code text;

update audit_log set commune_code = (select u.commune_code from users u where u.id = audit_log.actor_id)
where actor_kind = 'user';
update audit_log set commune_code = (select d.commune_code from devices d where d.id = audit_log.actor_id)
where actor_kind = 'device';
update audit_log set commune_code = (select doc.commune_code from documents doc where doc.id = audit_log.document_id)
where commune_code is null and document_id is not null;

create index audit_log_commune on audit_log (commune_code, at);
