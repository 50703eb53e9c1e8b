-- The commune's household list (roster), imported before fieldwork: one row per listed household,
-- keyed by the commune's own household code, each with the household document the server made
-- for it. A later import updates a row and adds rows; none is ever deleted by an import. The
-- head's name is the commune's roster data, shown to volunteers to find the house; the survey
-- records it only with the household's consent.
create table roster (
    commune_code text not null,
    code text not null,
    hamlet_id text not null,
    address text not null,
    head_name text,
    members bigint,
    document_id text not null unique,
    imported_at bigint not null,
    updated_at bigint not null,
    primary key (commune_code, code)
);
create index roster_by_hamlet on roster (commune_code, hamlet_id);
