-- Back-off after failed sign-ins and enrollment codes, kept in the database so that it holds
-- across several servers over one database (a caller sent round robin to N servers gets no more
-- guesses than from one) and over restarts. One row per key of each back-off (`scope`: accounts,
-- account-addresses, enrollment-codes); rows quiet for the longest wait are deleted.
create table throttles (
    scope text not null,
    key text not null,
    failures bigint not null default 0,
    last_at bigint not null,
    primary key (scope, key)
);
create index throttles_last_at on throttles (last_at);
