//! The typed household survey, document version 1 (the contract in shared/DESIGN.md).
//!
//! Every field is optional: a missing field means "not recorded", never "no". Values that
//! cannot be read (a wrong type, an unknown choice) are left out here and reported as findings
//! by [`crate::parse`], so one bad answer never hides the rest of the household.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The value of the root `schema` key of a version 1 household document.
pub const SCHEMA_V1: &str = "sansang.household/1";

/// Declares a closed set of answers with their wire names and Vietnamese and English labels.
macro_rules! choice {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $wire:literal, $vi:literal, $en:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            /// Every answer, in questionnaire order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The name written in documents.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire,)+ }
            }

            /// Reads the name written in documents; `None` for anything else.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($wire => Some($name::$variant),)+ _ => None }
            }

            /// The label shown to people, in Vietnamese.
            pub fn label_vi(self) -> &'static str {
                match self { $($name::$variant => $vi,)+ }
            }

            /// The label shown to people, in English.
            pub fn label_en(self) -> &'static str {
                match self { $($name::$variant => $en,)+ }
            }
        }
    };
}

choice! {
    /// Sex of a member.
    Sex {
        Male = "male", "Nam", "Male";
        Female = "female", "Nữ", "Female";
        Other = "other", "Khác", "Other";
    }
}

choice! {
    /// Relationship of a member to the head of household.
    Relation {
        Head = "head", "Chủ hộ", "Head of household";
        Spouse = "spouse", "Vợ/chồng", "Spouse";
        Child = "child", "Con", "Child";
        Parent = "parent", "Bố/mẹ", "Parent";
        Other = "other", "Khác", "Other";
    }
}

choice! {
    /// Whether a member has a smartphone.
    Smartphone {
        Own = "own", "Có điện thoại thông minh riêng", "Owns a smartphone";
        Shared = "shared", "Dùng chung", "Shares a smartphone";
        None = "none", "Không có", "No smartphone";
    }
}

choice! {
    /// VNeID account level of a member.
    Vneid {
        None = "none", "Chưa có", "No account";
        Registered = "registered", "Đã đăng ký, chưa kích hoạt", "Registered, not activated";
        Level1 = "level1", "Mức 1", "Level 1";
        Level2 = "level2", "Mức 2", "Level 2";
    }
}

choice! {
    /// Payment account of a member.
    PaymentAccount {
        None = "none", "Chưa có", "None";
        Bank = "bank", "Tài khoản ngân hàng", "Bank account";
        Ewallet = "ewallet", "Ví điện tử", "E-wallet or mobile money";
    }
}

choice! {
    /// What a photo shows.
    PhotoKind {
        Evidence = "evidence", "Ảnh minh chứng", "Evidence";
        Household = "household", "Ảnh hộ gia đình", "Household";
    }
}

/// One household survey: the root map of the document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "Household survey (sansang.household/1)")]
pub struct Household {
    /// Always `sansang.household/1` for this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// 5-digit national commune code, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commune_code: Option<String>,
    /// Hamlet code assigned by the commune.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hamlet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Consent>,
    /// Members by id (a UUID string).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub members: BTreeMap<String, Member>,
    /// Photos by the sha256 (lowercase hex) of the uploaded bytes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub photos: BTreeMap<String, PhotoRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub visits: Vec<Visit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The hamlet head's latest decision, written by the server so that it reaches the
    /// volunteers' phones with the household. Phones read it and leave it alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewNote>,
    /// The commune's own code of the household in its roster (the household list imported
    /// before fieldwork); set by the server on the documents it makes from the roster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roster_code: Option<String>,
}

impl Household {
    /// A household the server made from the commune's roster that nobody has visited yet: no
    /// visit, no consent and no member recorded. It is on the list to visit, not surveyed, and
    /// is left out of the indices and their coverage.
    pub fn listed_only(&self) -> bool {
        self.roster_code.is_some()
            && self.visits.is_empty()
            && self.consent.is_none()
            && self.members.is_empty()
    }

    /// Whether the household gave recorded consent (`consent.given = true`).
    pub fn consent_given(&self) -> bool {
        self.consent.as_ref().and_then(|c| c.given) == Some(true)
    }
}

/// Consent to record the household's data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given: Option<bool>,
    /// Who gave it (name of the person who answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When, as an RFC 3339 timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// One member of the household.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_year: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smartphone: Option<Smartphone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vneid: Option<Vneid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_account: Option<PaymentAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_on_phone: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<Skills>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vneid_course_confirmed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wants_to_learn: Option<bool>,
    /// Id of the digital ambassador (mentor) who guides this member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mentor_id: Option<String>,
}

impl Member {
    /// Age in the reference year; `None` when the birth year is missing or impossible.
    pub fn age(&self, reference_year: i64) -> Option<i64> {
        let year = self.birth_year?;
        (MIN_BIRTH_YEAR..=reference_year)
            .contains(&year)
            .then_some(reference_year - year)
    }

    /// All five basic skills observed (none missing, none false).
    pub fn has_all_skills(&self) -> bool {
        self.skills.as_ref().is_some_and(Skills::all_true)
    }

    /// Whether any of the five skills was not recorded.
    pub fn skills_incomplete(&self) -> bool {
        self.skills
            .as_ref()
            .is_none_or(|s| s.values().iter().any(Option::is_none))
    }
}

/// The earliest birth year accepted as plausible.
pub const MIN_BIRTH_YEAR: i64 = 1900;

/// The five basic digital skills, as observed by the volunteer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Skills {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_services: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_shopping: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_payment: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_platform: Option<bool>,
}

/// The document keys of the five skills, in questionnaire order.
pub const SKILL_KEYS: [&str; 5] = [
    "publicServices",
    "onlineShopping",
    "onlinePayment",
    "safety",
    "otherPlatform",
];

impl Skills {
    /// The five answers in the order of [`SKILL_KEYS`].
    pub fn values(&self) -> [Option<bool>; 5] {
        [
            self.public_services,
            self.online_shopping,
            self.online_payment,
            self.safety,
            self.other_platform,
        ]
    }

    /// Mutable access by document key, for readers and writers that walk [`SKILL_KEYS`].
    pub fn slot_mut(&mut self, key: &str) -> Option<&mut Option<bool>> {
        match key {
            "publicServices" => Some(&mut self.public_services),
            "onlineShopping" => Some(&mut self.online_shopping),
            "onlinePayment" => Some(&mut self.online_payment),
            "safety" => Some(&mut self.safety),
            "otherPlatform" => Some(&mut self.other_platform),
            _ => None,
        }
    }

    pub fn all_true(&self) -> bool {
        self.values().iter().all(|v| *v == Some(true))
    }
}

/// A photo attached to the household; the bytes are uploaded separately.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhotoRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<PhotoKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_at: Option<String>,
}

/// The review of a household as phones see it (`review` in the document root).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewNote {
    /// `approved`, `rejected` or `correction-requested`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// The reason of a rejection, or what to correct.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Display name of the hamlet head who decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// RFC 3339 time of the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    /// The decision's number for this household: 1, 2, 3…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// One visit by a volunteer's phone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Visit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Device id of the phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// Whether `s` is a sha256 digest written as 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
