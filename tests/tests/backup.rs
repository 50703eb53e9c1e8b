//! Backups on SQLite and PostgreSQL: an archive written while phones keep syncing restores into
//! a fresh folder (and a fresh database) with every document's heads and every photo's bytes;
//! a restore refuses a place that is not empty and a damaged archive, writing nothing.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the fixture's helpers serve several suites
#[path = "access/fixture.rs"]
mod fixture;
#[path = "backup/stories.rs"]
mod stories;

use stories::{
    a_backup_taken_while_phones_sync_restores_whole, a_restore_writes_nothing_it_cannot_finish,
};

sansang_tests::backend_tests!(
    a_backup_taken_while_phones_sync_restores_whole,
    a_restore_writes_nothing_it_cannot_finish,
);
