//! The sansang survey model: household documents (v1), their validation and the readiness
//! indices. Pure code, no I/O: used by the server and by tools alike.

pub mod finding;
pub mod indices;
pub mod model;
pub mod parse;
pub mod projection;
pub mod publish;
pub mod questionnaire;
pub mod read;
pub mod validate;
pub mod write;

pub use finding::{Conflict, ConflictValue, Finding, Severity};
pub use model::{Household, Member, SCHEMA_V1};
pub use projection::Projection;
