//! Creating accounts and resetting passwords, with the same checks whether an admin uses the API,
//! `sansang admin` or the demo: usernames NFC and lower case, hamlets that exist, argon2id.

use unicode_normalization::UnicodeNormalization;

use crate::auth::password;
use crate::error::ApiError;
use crate::storage::{Role, Storage, StorageError, User};

pub struct NewAccount<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    /// `None` only for an installation admin.
    pub commune_code: Option<&'a str>,
    pub hamlets: &'a [String],
    /// Generated when `None`.
    pub password: Option<&'a str>,
}

/// Longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;

/// The canonical form of a username: trimmed, NFC, lower case.
pub fn normalise_username(name: &str) -> String {
    name.trim().nfc().collect::<String>().to_lowercase()
}

/// Creates the account; returns it and its password (the given one or a generated one).
pub async fn create(
    storage: &dyn Storage,
    new: NewAccount<'_>,
) -> Result<(User, String), ApiError> {
    let username = normalise_username(new.username);
    if username.is_empty()
        || username.chars().count() > MAX_USERNAME_CHARS
        || username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ApiError::bad_request(
            "invalid-username",
            "tên đăng nhập 1–64 ký tự, không có khoảng trắng / username of 1-64 characters without spaces",
        ));
    }
    let display_name: String = new.display_name.trim().nfc().collect();
    if display_name.is_empty() || display_name.chars().count() > 120 {
        return Err(ApiError::bad_request(
            "invalid-display-name",
            "display name of 1-120 characters",
        ));
    }
    let commune = match (new.role, new.commune_code) {
        (Role::Admin, c) => c,
        (_, Some(c)) => Some(c),
        (_, None) => {
            return Err(ApiError::bad_request(
                "commune-required",
                "commune staff and hamlet heads belong to a commune",
            ));
        }
    };
    if let Some(code) = commune
        && storage.get_commune(code).await?.is_none()
    {
        return Err(ApiError::bad_request(
            "unknown-commune",
            format!("no commune {code}"),
        ));
    }
    let hamlets = match new.role {
        Role::HamletHead => {
            let code = commune.unwrap_or_default();
            let known = storage.list_hamlets(code).await?;
            if new.hamlets.is_empty() {
                return Err(ApiError::bad_request(
                    "hamlets-required",
                    "a hamlet head needs at least one hamlet",
                ));
            }
            for h in new.hamlets {
                if !known.iter().any(|k| &k.id == h) {
                    return Err(ApiError::bad_request(
                        "unknown-hamlet",
                        format!("hamlet {h} is not a hamlet of commune {code}"),
                    ));
                }
            }
            new.hamlets.to_vec()
        }
        _ => Vec::new(),
    };
    let password = new.password.map_or_else(password::generate, str::to_owned);
    let hash = hash_blocking(password.clone()).await?;
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        username,
        display_name,
        role: new.role,
        commune_code: commune.map(str::to_owned),
        hamlets,
        password_hash: hash,
        created_at: crate::now_millis(),
        disabled: false,
    };
    storage.create_user(&user).await.map_err(|e| match e {
        StorageError::Conflict { .. } => ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "username-taken",
            format!("username {} is taken", user.username),
        ),
        other => other.into(),
    })?;
    Ok((user, password))
}

/// Gives the user a new generated password and ends their sessions; returns the password.
pub async fn reset_password(storage: &dyn Storage, user: &User) -> Result<String, ApiError> {
    let password = password::generate();
    let hash = hash_blocking(password.clone()).await?;
    storage.set_password_hash(&user.id, &hash).await?;
    storage.delete_user_sessions(&user.id).await?;
    Ok(password)
}

async fn hash_blocking(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| ApiError::internal("password-hash-failed", e))?
        .map_err(|e| ApiError::bad_request("password-too-long", e.to_string()))
}
