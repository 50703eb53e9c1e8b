//! The one place that decides who may do what: every endpoint asks [`allows`], none decides on
//! its own.
//!
//! Nobody crosses communes. An admin without a commune administers the installation; commune
//! staff read and export their whole commune; a hamlet head reads, corrects, reviews and exports
//! their hamlets and manages their volunteers' phones; a phone reads and changes its hamlets'
//! households, nothing else.

use crate::storage::{Actor, Device, Role, User};

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User(User),
    Device(Device),
}

impl Principal {
    pub fn actor(&self) -> Actor {
        match self {
            Principal::User(u) => Actor::User(u.id.clone()),
            Principal::Device(d) => Actor::Device(d.id.clone()),
        }
    }

    /// The commune the principal belongs to; `None` only for an installation admin.
    pub fn commune(&self) -> Option<&str> {
        match self {
            Principal::User(u) => u.commune_code.as_deref(),
            Principal::Device(d) => Some(&d.commune_code),
        }
    }

    /// Hamlets the principal is limited to; `None` when it covers its whole commune.
    pub fn hamlets(&self) -> Option<&[String]> {
        match self {
            Principal::User(u) if u.role == Role::HamletHead => Some(&u.hamlets),
            Principal::User(_) => None,
            Principal::Device(d) => Some(&d.hamlets),
        }
    }

    /// Who holds the token, as one string: `device:<id>` or `user:<id>`. Per-token sync budgets,
    /// peer-id claims and the sender of a quarantined document are keyed by it.
    pub fn key(&self) -> String {
        match self {
            Principal::User(u) => user_key(&u.id),
            Principal::Device(d) => device_key(&d.id),
        }
    }

    pub fn role(&self) -> Option<Role> {
        match self {
            Principal::User(u) => Some(u.role),
            Principal::Device(_) => None,
        }
    }
}

/// [`Principal::key`] of a phone.
pub fn device_key(id: &str) -> String {
    format!("device:{id}")
}

/// [`Principal::key`] of a person.
pub fn user_key(id: &str) -> String {
    format!("user:{id}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See personal data (households, members).
    Read,
    /// Change a household document (sync, resolving a conflict).
    Change,
    /// Approve, reject, ask for a correction.
    Review,
    /// Download summaries and detail.
    Export,
    /// Issue enrollment codes, list and revoke phones.
    ManageDevices,
    /// Create communes, hamlets and users; reset passwords.
    Administer,
    /// Read the audit log.
    ReadAudit,
    /// Import the commune's household list (roster).
    ImportRoster,
}

/// What an action is about: a whole commune, or one hamlet of it (a household's scope is its
/// hamlet). `hamlet: None` means the commune as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    pub commune: &'a str,
    pub hamlet: Option<&'a str>,
}

impl<'a> Scope<'a> {
    pub fn commune(commune: &'a str) -> Self {
        Scope {
            commune,
            hamlet: None,
        }
    }

    pub fn hamlet(commune: &'a str, hamlet: &'a str) -> Self {
        Scope {
            commune,
            hamlet: Some(hamlet),
        }
    }
}

/// Whether `principal` may do `action` on `scope`.
pub fn allows(principal: &Principal, action: Action, scope: Scope<'_>) -> bool {
    let in_commune = principal.commune().is_none_or(|c| c == scope.commune);
    if !in_commune {
        return false;
    }
    let in_hamlets = || match (principal.hamlets(), scope.hamlet) {
        (None, _) => true,
        (Some(mine), Some(h)) => mine.iter().any(|m| m == h),
        // A principal limited to hamlets never acts on the commune as a whole.
        (Some(_), None) => false,
    };
    match principal {
        Principal::User(user) if user.disabled => false,
        Principal::User(user) => match user.role {
            Role::Admin => true,
            Role::CommuneStaff => {
                matches!(action, Action::Read | Action::Export | Action::ImportRoster)
            }
            Role::HamletHead => {
                matches!(
                    action,
                    Action::Read
                        | Action::Change
                        | Action::Review
                        | Action::Export
                        | Action::ManageDevices
                ) && in_hamlets()
            }
        },
        Principal::Device(device) => {
            device.revoked_at.is_none()
                && matches!(action, Action::Read | Action::Change)
                && in_hamlets()
        }
    }
}

/// Whether `principal` may do `action` anywhere at all (in its commune or one of its hamlets):
/// the role-level question, asked before any particular resource is named.
pub fn can_ever(principal: &Principal, action: Action) -> bool {
    let Some(commune) = principal.commune() else {
        return allows(principal, action, Scope::commune(""));
    };
    match principal.hamlets() {
        None => allows(principal, action, Scope::commune(commune)),
        Some(hamlets) => hamlets
            .iter()
            .any(|h| allows(principal, action, Scope::hamlet(commune, h))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, commune: Option<&str>, hamlets: &[&str]) -> Principal {
        Principal::User(User {
            id: "u".into(),
            username: "u".into(),
            display_name: "U".into(),
            role,
            commune_code: commune.map(Into::into),
            hamlets: hamlets.iter().map(|h| (*h).to_owned()).collect(),
            password_hash: String::new(),
            created_at: 0,
            disabled: false,
        })
    }

    fn device(hamlets: &[&str], revoked: bool) -> Principal {
        Principal::Device(Device {
            id: "d".into(),
            volunteer: "V".into(),
            commune_code: "10846".into(),
            hamlets: hamlets.iter().map(|h| (*h).to_owned()).collect(),
            token_hash: String::new(),
            created_at: 0,
            revoked_at: revoked.then_some(1),
        })
    }

    const ALL: [Action; 8] = [
        Action::Read,
        Action::Change,
        Action::Review,
        Action::Export,
        Action::ManageDevices,
        Action::Administer,
        Action::ReadAudit,
        Action::ImportRoster,
    ];

    /// The actions allowed, as a string of initials, for a compact matrix.
    fn allowed(p: &Principal, scope: Scope<'_>) -> String {
        ALL.iter()
            .filter(|a| allows(p, **a, scope))
            .map(|a| format!("{a:?}").chars().next().unwrap_or('?'))
            .collect()
    }

    #[test]
    fn role_by_scope_matrix() {
        let t01 = Scope::hamlet("10846", "T01");
        let t02 = Scope::hamlet("10846", "T02");
        let commune = Scope::commune("10846");
        let other = Scope::hamlet("99999", "T01");
        let admin = user(Role::Admin, Some("10846"), &[]);
        let root = user(Role::Admin, None, &[]);
        let staff = user(Role::CommuneStaff, Some("10846"), &[]);
        let head = user(Role::HamletHead, Some("10846"), &["T01"]);
        let phone = device(&["T01"], false);
        let revoked = device(&["T01"], true);
        let cases = [
            (&admin, t01, "RCREMARI"),
            (&admin, commune, "RCREMARI"),
            (&admin, other, ""),
            (&root, other, "RCREMARI"),
            (&staff, t01, "REI"),
            (&staff, commune, "REI"),
            (&staff, other, ""),
            (&head, t01, "RCREM"),
            (&head, t02, ""),
            (&head, commune, ""),
            (&head, other, ""),
            (&phone, t01, "RC"),
            (&phone, t02, ""),
            (&phone, commune, ""),
            (&revoked, t01, ""),
        ];
        for (who, scope, want) in cases {
            assert_eq!(allowed(who, scope), want, "{who:?} on {scope:?}");
        }
    }

    #[test]
    fn role_level_capabilities() {
        let head = user(Role::HamletHead, Some("10846"), &["T01"]);
        let staff = user(Role::CommuneStaff, Some("10846"), &[]);
        let root = user(Role::Admin, None, &[]);
        assert!(can_ever(&head, Action::ManageDevices));
        assert!(!can_ever(&head, Action::ReadAudit));
        assert!(!can_ever(&staff, Action::ManageDevices));
        assert!(can_ever(&staff, Action::Export));
        assert!(can_ever(&staff, Action::ImportRoster));
        assert!(!can_ever(&head, Action::ImportRoster));
        assert!(can_ever(&root, Action::Administer));
        assert!(!can_ever(&device(&["T01"], false), Action::Export));
    }

    #[test]
    fn disabled_users_may_do_nothing() {
        let Principal::User(mut u) = user(Role::Admin, None, &[]) else {
            unreachable!()
        };
        u.disabled = true;
        assert_eq!(allowed(&Principal::User(u), Scope::commune("10846")), "");
    }
}
