//! Breach readiness on SQLite and PostgreSQL: the audit log says whose data a phone or a person
//! touched between two times — reads over the API and over sync, exports — and no more.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the fixture's helpers serve several suites
#[path = "access/fixture.rs"]
mod fixture;
#[path = "breach/stories.rs"]
mod stories;

use stories::who_was_touched_by_a_phone_or_a_person;

sansang_tests::backend_tests!(who_was_touched_by_a_phone_or_a_person);
