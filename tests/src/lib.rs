//! Helpers for the end-to-end suites: fresh databases on every backend, the real server on port 0.

pub mod app;
pub mod db;
