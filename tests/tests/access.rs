//! Who may see and change what, over the real HTTP API on SQLite and PostgreSQL: the role ×
//! resource matrix, sign-in back-off, enrollment codes, revocation, sessions and cookies, and
//! the audit trail of it all.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the fixture's helpers serve several suites
#[path = "access/fixture.rs"]
mod fixture;
#[path = "access/isolation.rs"]
mod isolation;
#[path = "access/matrix.rs"]
mod matrix;
#[path = "access/sessions.rs"]
mod sessions;

use isolation::{
    another_communes_admin_sees_nothing_of_10846,
    duplicates_name_only_households_the_reader_may_read, foreign_origins_are_refused,
};
use matrix::role_by_resource_matrix;
use sessions::{
    back_off_holds_across_servers_and_restarts, devices_enrol_once_and_are_cut_off_when_revoked,
    parallel_guesses_are_held_back, sign_in_is_throttled_and_sessions_end,
    the_callers_address_comes_through_trusted_proxies_only,
};

sansang_tests::backend_tests!(
    role_by_resource_matrix,
    another_communes_admin_sees_nothing_of_10846,
    duplicates_name_only_households_the_reader_may_read,
    foreign_origins_are_refused,
    sign_in_is_throttled_and_sessions_end,
    parallel_guesses_are_held_back,
    devices_enrol_once_and_are_cut_off_when_revoked,
    the_callers_address_comes_through_trusted_proxies_only,
    back_off_holds_across_servers_and_restarts,
);
