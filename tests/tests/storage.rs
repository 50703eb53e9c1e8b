//! Conformance suite for the database storage: every story runs on SQLite and on PostgreSQL, so
//! the two backends answer every call alike. `cargo test --test storage` lists each story twice,
//! as `sqlite::<story>` and `postgres::<story>`. The stories live in `storage/`, one file per area.

#![allow(clippy::unwrap_used)]

#[path = "storage/access.rs"]
mod access;
#[path = "storage/audit.rs"]
mod audit;
#[path = "storage/documents.rs"]
mod documents;
#[path = "storage/fixtures.rs"]
mod fixtures;
#[path = "storage/people.rs"]
mod people;
#[path = "storage/places.rs"]
mod places;
#[path = "storage/projections.rs"]
mod projections;
#[path = "storage/quarantine.rs"]
mod quarantine;
#[path = "storage/reviews.rs"]
mod reviews;

use access::{
    enrollments_roundtrip, redeem_enrollment_once, redeem_enrollment_race,
    redeem_expired_enrollment, sessions_roundtrip,
};
use audit::{audit_filters, audit_is_newest_first_with_default_limit};
use documents::{
    change_log_is_idempotent, compaction_keeps_later_changes, concurrent_writers,
    concurrent_writers_same_document, connection_settings, jobs_run_on_one_server_at_a_time,
    reopening_keeps_everything, scope_and_counts, servers_are_counted_while_registered,
    writers_at_once_succeed_or_fail_alone,
};
use people::{devices_roundtrip, users_roundtrip};
use places::{one_dashboard_point_a_day, places_roundtrip};
use projections::{
    households_list_filters_and_counts, projection_roundtrip, projection_written_by_difference,
};
use quarantine::{
    quarantine_hides_from_lists_only, setting_is_written_once, setting_race_has_one_winner,
};
use reviews::{concurrent_decisions_have_one_winner, decisions_are_pinned_numbered_and_kept};

sansang_tests::backend_tests!(
    decisions_are_pinned_numbered_and_kept,
    concurrent_decisions_have_one_winner,
    places_roundtrip,
    one_dashboard_point_a_day,
    users_roundtrip,
    devices_roundtrip,
    change_log_is_idempotent,
    compaction_keeps_later_changes,
    jobs_run_on_one_server_at_a_time,
    servers_are_counted_while_registered,
    scope_and_counts,
    concurrent_writers,
    concurrent_writers_same_document,
    writers_at_once_succeed_or_fail_alone,
    connection_settings,
    reopening_keeps_everything,
    projection_roundtrip,
    projection_written_by_difference,
    households_list_filters_and_counts,
    audit_filters,
    audit_is_newest_first_with_default_limit,
    sessions_roundtrip,
    enrollments_roundtrip,
    redeem_enrollment_once,
    redeem_expired_enrollment,
    redeem_enrollment_race,
    quarantine_hides_from_lists_only,
    setting_is_written_once,
    setting_race_has_one_winner,
);
