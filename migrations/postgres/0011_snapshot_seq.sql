-- The change sequence number a document's snapshot covers: every change numbered up to it is in
-- the snapshot. With `last_seq` it tells a server whether its copy in memory is behind the
-- database (another server wrote since) and how many changes wait to be compacted, counted in
-- the database rather than in one process.
alter table documents add column snapshot_seq bigint not null default 0;
