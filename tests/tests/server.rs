//! End-to-end stories of the running server, on SQLite and on PostgreSQL: health and metrics,
//! documents stored durably with their projection, bad Automerge data refused, the demo seeded
//! once. Each story is listed twice, as `sqlite::<story>` and `postgres::<story>`.

#![allow(clippy::unwrap_used)]

#[path = "server/demo.rs"]
mod demo;
#[path = "server/documents.rs"]
mod documents;
#[path = "server/field.rs"]
mod field;
#[path = "server/health.rs"]
mod health;

use demo::demo_is_seeded_once;
use documents::{
    bad_automerge_data_is_refused_and_nothing_written, concurrent_phones_show_as_conflicts,
    documents_survive_restart_and_compaction,
};
use field::field_app_is_served;
use health::health_and_metrics_answer;

sansang_tests::backend_tests!(
    health_and_metrics_answer,
    documents_survive_restart_and_compaction,
    bad_automerge_data_is_refused_and_nothing_written,
    concurrent_phones_show_as_conflicts,
    demo_is_seeded_once,
    field_app_is_served,
);
