//! Phone enrollment: an admin or hamlet head issues a one-time code for a volunteer (text and QR
//! code); the phone exchanges it once for a revocable device token bound to the volunteer, the
//! commune and the hamlets. Used by the HTTP API, `sansang admin` and the demo alike.

use std::time::Duration;

use qrcode::QrCode;
use qrcode::render::{svg, unicode};
use unicode_normalization::UnicodeNormalization;

use super::token;
use crate::storage::{Actor, Device, Enrollment, Redeemed, Storage, StorageError};

/// How long a code is valid unless said otherwise.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(24 * 3600);
/// The longest validity anyone may ask for: a week.
pub const MAX_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum EnrollmentError {
    #[error("volunteer name must be 1 to 100 characters")]
    BadVolunteer,
    #[error("at least one hamlet is needed")]
    NoHamlets,
    #[error("hamlet {0} is not a hamlet of commune {1}")]
    UnknownHamlet(String, String),
    #[error("validity must be between 1 hour and 7 days")]
    BadValidity,
    #[error("the enrollment code is unknown")]
    UnknownCode,
    #[error("the enrollment code was already used")]
    UsedCode,
    #[error("the enrollment code has expired")]
    ExpiredCode,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl EnrollmentError {
    pub fn code(&self) -> &'static str {
        match self {
            EnrollmentError::BadVolunteer => "invalid-volunteer",
            EnrollmentError::NoHamlets => "hamlets-required",
            EnrollmentError::UnknownHamlet(..) => "unknown-hamlet",
            EnrollmentError::BadValidity => "invalid-validity",
            EnrollmentError::UnknownCode => "enrollment-code-unknown",
            EnrollmentError::UsedCode => "enrollment-code-used",
            EnrollmentError::ExpiredCode => "enrollment-code-expired",
            EnrollmentError::Storage(_) => "storage-error",
        }
    }
}

/// A code just issued: the only moment the code itself exists outside the phone.
#[derive(Debug, Clone)]
pub struct IssuedCode {
    pub code: String,
    pub enrollment: Enrollment,
    /// What the QR code holds: the field app's address with the code.
    pub enroll_url: String,
}

/// What a new request for a code says.
pub struct CodeRequest<'a> {
    pub commune_code: &'a str,
    pub volunteer: &'a str,
    pub hamlets: &'a [String],
    pub validity: Duration,
}

/// Issues a code after checking the volunteer's name and that every hamlet is the commune's.
pub async fn issue(
    storage: &dyn Storage,
    issuer: Actor,
    request: CodeRequest<'_>,
    public_url: &str,
) -> Result<IssuedCode, EnrollmentError> {
    let volunteer: String = request.volunteer.trim().nfc().collect();
    if volunteer.is_empty() || volunteer.chars().count() > 100 {
        return Err(EnrollmentError::BadVolunteer);
    }
    if request.hamlets.is_empty() {
        return Err(EnrollmentError::NoHamlets);
    }
    if request.validity < Duration::from_secs(3600) || request.validity > MAX_VALIDITY {
        return Err(EnrollmentError::BadValidity);
    }
    let known = storage.list_hamlets(request.commune_code).await?;
    let mut hamlets: Vec<String> = Vec::new();
    for h in request.hamlets {
        if !known.iter().any(|k| &k.id == h) {
            return Err(EnrollmentError::UnknownHamlet(
                h.clone(),
                request.commune_code.to_owned(),
            ));
        }
        if !hamlets.contains(h) {
            hamlets.push(h.clone());
        }
    }
    let now = crate::now_millis();
    loop {
        let code = token::new_code();
        let enrollment = Enrollment {
            code_hash: token::hash(&token::normalise_code(&code)),
            volunteer: volunteer.clone(),
            commune_code: request.commune_code.to_owned(),
            hamlets: hamlets.clone(),
            created_by: issuer.clone(),
            created_at: now,
            expires_at: now + request.validity.as_millis() as i64,
            used_at: None,
            device_id: None,
        };
        match storage.create_enrollment(&enrollment).await {
            Ok(()) => {
                let enroll_url =
                    format!("{}/field/#enroll={code}", public_url.trim_end_matches('/'));
                return Ok(IssuedCode {
                    code,
                    enrollment,
                    enroll_url,
                });
            }
            // A collision of 59-bit codes: draw again.
            Err(StorageError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Exchanges a code for a new device and its token (returned once, stored only as a hash).
pub async fn redeem(
    storage: &dyn Storage,
    typed_code: &str,
) -> Result<(String, Device), EnrollmentError> {
    let code_hash = token::hash(&token::normalise_code(typed_code));
    let token = token::new_token(token::DEVICE_PREFIX);
    let template = Device {
        id: uuid::Uuid::new_v4().to_string(),
        volunteer: String::new(),
        commune_code: String::new(),
        hamlets: Vec::new(),
        token_hash: token::hash(&token),
        created_at: crate::now_millis(),
        revoked_at: None,
    };
    match storage
        .redeem_enrollment(&code_hash, crate::now_millis(), &template)
        .await?
    {
        Redeemed::Device(device) => Ok((token, device)),
        Redeemed::Unknown => Err(EnrollmentError::UnknownCode),
        Redeemed::AlreadyUsed => Err(EnrollmentError::UsedCode),
        Redeemed::Expired => Err(EnrollmentError::ExpiredCode),
    }
}

/// The QR code of `text` as an SVG image.
pub fn qr_svg(text: &str) -> String {
    match QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<svg::Color<'_>>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

/// The QR code of `text` drawn with block characters, for a terminal.
pub fn qr_terminal(text: &str) -> String {
    match QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<unicode::Dense1x2>()
            .dark_color(unicode::Dense1x2::Light)
            .light_color(unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}
