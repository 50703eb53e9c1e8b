//! HTTP handlers, one module per resource, each exporting its own `router()`.

pub mod health;
