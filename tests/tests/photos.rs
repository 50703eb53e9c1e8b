//! Photo evidence over the real HTTP API on SQLite and PostgreSQL: upload by hash, idempotent,
//! fetched only through a household the caller may read, pending until uploaded, near-duplicates
//! across households flagged on both.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the fixture's helpers serve several suites
#[path = "access/fixture.rs"]
mod fixture;
#[path = "photos/stories.rs"]
mod stories;

use stories::{
    bad_uploads_are_refused_with_a_code, photos_are_taken_in_and_served_by_scope,
    unreferenced_photos_are_swept_after_grace,
};

sansang_tests::backend_tests!(
    photos_are_taken_in_and_served_by_scope,
    bad_uploads_are_refused_with_a_code,
    unreferenced_photos_are_swept_after_grace,
);
