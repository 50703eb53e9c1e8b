//! Consent on SQLite and PostgreSQL: a household without recorded consent is stored whole, but
//! its members, photos and notes stay out of the API, the review page, the photo endpoint and
//! the member rows until a volunteer records consent; then everything appears.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the fixture's helpers serve several suites
#[path = "access/fixture.rs"]
mod fixture;
#[path = "consent/stories.rs"]
mod stories;

use stories::personal_data_waits_for_consent;

sansang_tests::backend_tests!(personal_data_waits_for_consent);
