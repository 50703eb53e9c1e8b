//! HTTP handlers, one module per resource, each exporting its own `router()`.

pub mod audit;
pub mod auth;
pub mod devices;
pub mod health;
pub mod households;
pub mod indices;
pub mod json;
pub mod openapi;
pub mod photos;
pub mod reviews;
pub mod users;
