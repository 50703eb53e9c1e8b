//! A person's rights on SQLite and PostgreSQL: an admin exports what is held about one member,
//! then erases them; the household lives on as a fresh document without them, the old history is
//! refused from phones, and no erased value is left in the database files or the photo store.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the fixture's helpers serve several suites
#[path = "access/fixture.rs"]
mod fixture;
#[path = "erasure/stories.rs"]
mod stories;

use stories::{a_household_is_erased_whole, a_member_is_erased_and_nothing_of_them_remains};

sansang_tests::backend_tests!(
    a_member_is_erased_and_nothing_of_them_remains,
    a_household_is_erased_whole,
);
