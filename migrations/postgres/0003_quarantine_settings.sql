-- Quarantined documents, and settings of the installation. The SQLite twin of this file is
-- identical (no type here differs).

-- 1 when a phone sent the document for a hamlet outside its own: it is stored and synced back to
-- that phone, but kept out of every household list until an admin decides.
alter table documents add column quarantined integer not null default 0;

-- Values the installation keeps across restarts, one per key (e.g. a generated secret).
create table settings (
    key text primary key not null,
    value text not null
);
