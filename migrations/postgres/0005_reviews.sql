-- Hamlet heads' decisions on households. Every decision is a row of review_history, numbered per
-- household from 1; the primary key makes a second decision on the same version fail, so of two
-- heads deciding at once exactly one wins. `reviews` holds the latest decision of each
-- household for the queue. Heads are JSON arrays of sorted hex change hashes, as in
-- households.heads: a household whose heads differ from its decision's has changed since review.
-- The PostgreSQL twin of this file is identical (no type here differs).

create table review_history (
    document_id text not null references documents (id) on delete cascade,
    version bigint not null,
    -- 'approved', 'rejected' or 'correction-requested'.
    decision text not null,
    comment text,
    heads text not null,
    decided_by text not null references users (id),
    decided_at bigint not null,
    primary key (document_id, version)
);

create table reviews (
    document_id text primary key not null references documents (id) on delete cascade,
    version bigint not null,
    decision text not null,
    comment text,
    heads text not null,
    decided_by text not null references users (id),
    decided_at bigint not null
);
