//! Who is asking and what they may do: passwords, tokens and codes, the signed-in caller, the
//! access policy, back-off after failures, phone enrollment.

pub mod address;
pub mod caller;
pub mod enrollment;
pub mod hashing;
pub mod password;
pub mod policy;
pub mod throttle;
pub mod token;

pub use caller::Caller;
pub use policy::{Action, Principal, Scope};
