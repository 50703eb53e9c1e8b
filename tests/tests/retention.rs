//! Retention on SQLite and PostgreSQL: evidence photos leave the store a set time after their
//! household's approval (and only when every household using them is approved), quarantined
//! documents are erased a set time after their last change, and the report says what is held.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the fixture's helpers serve several suites
#[path = "access/fixture.rs"]
mod fixture;
#[path = "retention/stories.rs"]
mod stories;

use stories::evidence_and_quarantine_are_kept_only_as_long_as_configured;

sansang_tests::backend_tests!(evidence_and_quarantine_are_kept_only_as_long_as_configured);
