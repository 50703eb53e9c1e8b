//! Who may see and change what, over the real HTTP API on SQLite and PostgreSQL: the role ×
//! resource matrix, sign-in back-off, enrollment codes, revocation, sessions and cookies, and
//! the audit trail of it all.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the fixture's helpers serve several suites
#[path = "access/fixture.rs"]
mod fixture;
#[path = "access/matrix.rs"]
mod matrix;
#[path = "access/sessions.rs"]
mod sessions;

use matrix::role_by_resource_matrix;
use sessions::{
    devices_enrol_once_and_are_cut_off_when_revoked, sign_in_is_throttled_and_sessions_end,
};

sansang_tests::backend_tests!(
    role_by_resource_matrix,
    sign_in_is_throttled_and_sessions_end,
    devices_enrol_once_and_are_cut_off_when_revoked,
);
