-- Documents erased at a person's request. The id is never used again: a phone that still holds
-- the old history is refused and told which document, if any, replaced it. Nothing else of the
-- erased document is kept here.
create table tombstones (
    document_id text primary key not null,
    replaced_by text,
    erased_at bigint not null
);
