//! The sansang server as a library: the binary, the demo and the end-to-end tests all build the
//! same application from here.

pub mod accounts;
pub mod app;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod bench;
pub mod breach;
pub mod cli;
pub mod config;
pub mod demo;
pub mod documents;
pub mod duplicates;
pub mod erasure;
pub mod error;
pub mod exports;
pub mod http;
pub mod indices;
pub mod metrics;
pub mod moves;
pub mod photos;
pub mod private;
pub mod retention;
pub mod review;
pub mod roster;
pub mod simulate;
pub mod storage;
pub mod sync;
pub mod telemetry;
pub mod web;

/// Vietnam's offset from UTC: dates people see and the survey year follow it.
pub const VIETNAM: time::UtcOffset = time::macros::offset!(+7);

/// The current year in Vietnam, the reference year for ages and birth-year checks.
pub fn reference_year() -> i64 {
    i64::from(time::OffsetDateTime::now_utc().to_offset(VIETNAM).year())
}

/// Milliseconds since the Unix epoch, the time format of every stored row.
pub fn now_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
