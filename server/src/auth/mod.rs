//! Who is asking: passwords now; sessions, tokens and the access policy come with accounts.

pub mod password;
