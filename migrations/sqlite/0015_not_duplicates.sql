-- Pairs of households a hamlet head decided are not the same house although they look alike
-- (the same address once normalised): never flagged as possible duplicates of each other again.
-- The smaller document id comes first.
create table not_duplicates (
    commune_code text not null,
    first_id text not null,
    second_id text not null,
    decided_by text not null,
    decided_at bigint not null,
    primary key (first_id, second_id)
);
create index not_duplicates_by_commune on not_duplicates (commune_code);
