-- Photos of evidence: one row per uploaded photo (content-addressed by the sha256 of the bytes
-- the phone uploaded), and which household documents reference which photo. The PostgreSQL twin
-- of this file is identical (no type here differs).

create table photos (
    sha256 text primary key not null,
    format text not null,
    width bigint not null,
    height bigint not null,
    evidence_width bigint not null,
    evidence_height bigint not null,
    -- 64-bit perceptual hash, its bits stored as a signed integer.
    phash bigint not null,
    uploaded_by_kind text not null,
    uploaded_by_id text,
    uploaded_at bigint not null,
    original_kept integer not null default 0
);

-- Kept in step with each document's projection (the keys of its `photos` map), so a photo's
-- households are found without reading documents.
create table photo_refs (
    document_id text not null references documents (id) on delete cascade,
    sha256 text not null,
    primary key (document_id, sha256)
);

create index photo_refs_sha256 on photo_refs (sha256);
