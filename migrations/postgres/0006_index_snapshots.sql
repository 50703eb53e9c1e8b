-- The commune's indices as they stood at a moment, for the dashboard's progress over time: one
-- row a day at most per commune and view, the report as computed (raw counts, JSON). The
-- PostgreSQL twin of this file is identical.

create table index_snapshots (
    commune_code text not null references communes (code) on delete cascade,
    -- 'approved' or 'all-surveyed'.
    view text not null,
    taken_at bigint not null,
    report text not null,
    primary key (commune_code, view, taken_at)
);
