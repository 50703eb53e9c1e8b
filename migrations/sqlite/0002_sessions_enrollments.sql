-- Sessions of people signed in, and the one-time codes that enrol volunteers' phones. Only hashes
-- of the secrets are stored. The PostgreSQL twin of this file is identical (no type here differs).

create table sessions (
    token_hash text primary key not null,
    user_id text not null references users (id) on delete cascade,
    created_at bigint not null,
    expires_at bigint not null,
    -- Remote address at sign-in.
    address text
);

create index sessions_user on sessions (user_id);

create table enrollments (
    code_hash text primary key not null,
    volunteer text not null,
    commune_code text not null references communes (code),
    -- Who issued the code, as in the audit log: 'user', 'device' or 'system', and an id.
    created_by_kind text not null,
    created_by_id text,
    created_at bigint not null,
    expires_at bigint not null,
    used_at bigint,
    -- Set together with used_at, in the transaction that creates the device: so the check waits
    -- for the commit.
    device_id text references devices (id) deferrable initially deferred
);

create index enrollments_commune on enrollments (commune_code, created_at);

create table enrollment_hamlets (
    code_hash text not null references enrollments (code_hash) on delete cascade,
    hamlet_id text not null,
    primary key (code_hash, hamlet_id)
);
