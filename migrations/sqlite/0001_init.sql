-- The first schema: places, people and phones, household documents (snapshot plus change log),
-- their projections, and the append-only audit log. The PostgreSQL twin of this file differs
-- only in types. Booleans are integers 0/1 and times are milliseconds since the epoch, so one
-- set of queries reads both databases.

create table communes (
    code text primary key not null,
    name text not null,
    province text not null
);

create table hamlets (
    commune_code text not null references communes (code) on delete cascade,
    id text not null,
    name text not null,
    expected_households bigint,
    primary key (commune_code, id)
);

create table users (
    id text primary key not null,
    username text not null unique,
    display_name text not null,
    role text not null,
    commune_code text references communes (code),
    password_hash text not null,
    created_at bigint not null,
    disabled integer not null default 0
);

create index users_commune on users (commune_code);

create table user_hamlets (
    user_id text not null references users (id) on delete cascade,
    hamlet_id text not null,
    primary key (user_id, hamlet_id)
);

create table devices (
    id text primary key not null,
    volunteer text not null,
    commune_code text not null references communes (code),
    token_hash text not null unique,
    created_at bigint not null,
    revoked_at bigint
);

create index devices_commune on devices (commune_code, created_at);

create table device_hamlets (
    device_id text not null references devices (id) on delete cascade,
    hamlet_id text not null,
    primary key (device_id, hamlet_id)
);

-- No foreign key to communes: a phone's document is stored before anyone checks its content.
create table documents (
    id text primary key not null,
    commune_code text,
    hamlet_id text,
    snapshot blob,
    snapshot_heads text not null default '[]',
    -- The seq given to the last change received; orders the change log.
    last_seq bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null
);

create index documents_scope on documents (commune_code, hamlet_id);

create table changes (
    document_id text not null references documents (id) on delete cascade,
    hash text not null,
    seq bigint not null,
    bytes blob not null,
    primary key (document_id, hash)
);

create index changes_order on changes (document_id, seq);

create table households (
    document_id text primary key not null references documents (id) on delete cascade,
    commune_code text,
    hamlet_id text,
    address text,
    consent_given integer not null,
    member_count bigint not null,
    finding_count bigint not null,
    error_count bigint not null,
    conflict_count bigint not null,
    heads text not null,
    projection text not null,
    updated_at bigint not null
);

create index households_scope on households (commune_code, hamlet_id);

create table members (
    document_id text not null references households (document_id) on delete cascade,
    member_id text not null,
    full_name text,
    birth_year bigint,
    sex text,
    relation text,
    smartphone text,
    vneid text,
    payment_account text,
    payment_on_phone integer,
    skill_public_services integer,
    skill_online_shopping integer,
    skill_online_payment integer,
    skill_safety integer,
    skill_other_platform integer,
    vneid_course_confirmed integer,
    wants_to_learn integer,
    mentor_id text,
    primary key (document_id, member_id)
);

create index members_mentor on members (mentor_id);

create table findings (
    document_id text not null references households (document_id) on delete cascade,
    ordinal bigint not null,
    path text not null,
    code text not null,
    severity text not null,
    message_vi text not null,
    message_en text not null,
    primary key (document_id, ordinal)
);

create index findings_code on findings (code);

create table conflicts (
    document_id text not null references households (document_id) on delete cascade,
    ordinal bigint not null,
    path text not null,
    values_json text not null,
    primary key (document_id, ordinal)
);

-- Append-only: the server has no statement that updates or deletes a row here.
create table audit_log (
    id integer primary key autoincrement,
    at bigint not null,
    actor_kind text not null,
    actor_id text,
    action text not null,
    document_id text,
    address text,
    detail text
);

create index audit_log_at on audit_log (at);
create index audit_log_actor on audit_log (actor_kind, actor_id, at);
create index audit_log_document on audit_log (document_id, at);
