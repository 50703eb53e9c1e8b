//! The questionnaire phones render: question order, Vietnamese and English labels, choices and
//! the ages each member question applies to. Choices come from the model's enums, so the form
//! and the document contract cannot drift apart.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{PaymentAccount, Relation, SCHEMA_V1, SKILL_KEYS, Sex, Smartphone, Vneid};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Questionnaire {
    /// The document schema the answers are written into.
    pub schema: String,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Section {
    pub id: String,
    /// `household`: answered once; `member`: answered for each member.
    pub scope: Scope,
    pub label_vi: String,
    pub label_en: String,
    pub questions: Vec<Question>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Household,
    Member,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Text,
    Integer,
    Boolean,
    Choice,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Question {
    /// Path of the answer inside the household (household scope) or the member map (member
    /// scope), keys separated by `/`, e.g. `skills/safety`.
    pub key: String,
    pub kind: Kind,
    pub label_vi: String,
    pub label_en: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    /// The survey is incomplete without this answer.
    pub required: bool,
    /// Youngest age (reference year − birth year) the question is asked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_age: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Choice {
    pub value: String,
    pub label_vi: String,
    pub label_en: String,
}

fn q(key: &str, kind: Kind, vi: &str, en: &str) -> Question {
    Question {
        key: key.into(),
        kind,
        label_vi: vi.into(),
        label_en: en.into(),
        choices: Vec::new(),
        required: false,
        min_age: None,
    }
}

fn choice<T: Copy>(
    key: &str,
    vi: &str,
    en: &str,
    all: &[T],
    wire: fn(T) -> &'static str,
    label_vi: fn(T) -> &'static str,
    label_en: fn(T) -> &'static str,
) -> Question {
    Question {
        choices: all
            .iter()
            .map(|&c| Choice {
                value: wire(c).into(),
                label_vi: label_vi(c).into(),
                label_en: label_en(c).into(),
            })
            .collect(),
        ..q(key, Kind::Choice, vi, en)
    }
}

/// Chooses the three enum accessors at once.
macro_rules! choice_of {
    ($key:literal, $vi:literal, $en:literal, $ty:ty) => {
        choice(
            $key,
            $vi,
            $en,
            <$ty>::ALL,
            <$ty>::as_str,
            <$ty>::label_vi,
            <$ty>::label_en,
        )
    };
}

impl Question {
    fn required(mut self) -> Self {
        self.required = true;
        self
    }

    fn asked_from(mut self, age: u32) -> Self {
        self.min_age = Some(age);
        self
    }
}

/// Labels of the five skills, in the order of [`SKILL_KEYS`].
const SKILL_LABELS: [(&str, &str); 5] = [
    (
        "Sử dụng dịch vụ công trực tuyến",
        "Uses online public services",
    ),
    ("Mua sắm trực tuyến", "Shops online"),
    ("Thanh toán trực tuyến", "Pays online"),
    (
        "Tự bảo vệ trên môi trường mạng",
        "Protects themselves online (scams, passwords, privacy)",
    ),
    (
        "Sử dụng nền tảng số khác",
        "Uses another everyday digital platform (health care, learning)",
    ),
];

/// The version 1 questionnaire.
pub fn v1() -> Questionnaire {
    let household = vec![
        q("hamletId", Kind::Choice, "Thôn / tổ dân phố", "Hamlet").required(),
        q("address", Kind::Text, "Địa chỉ", "Address"),
        q(
            "consent/given",
            Kind::Boolean,
            "Hộ đồng ý cung cấp thông tin",
            "The household consents to give information",
        )
        .required(),
        q("consent/by", Kind::Text, "Người đồng ý", "Consent given by"),
        q("notes", Kind::Text, "Ghi chú", "Notes"),
    ];
    let mut member = vec![
        q("fullName", Kind::Text, "Họ và tên", "Full name").required(),
        q("birthYear", Kind::Integer, "Năm sinh", "Year of birth"),
        choice_of!("sex", "Giới tính", "Sex", Sex),
        choice_of!(
            "relation",
            "Quan hệ với chủ hộ",
            "Relationship to the head",
            Relation
        )
        .required(),
        choice_of!(
            "smartphone",
            "Điện thoại thông minh",
            "Smartphone",
            Smartphone
        )
        .asked_from(10),
        choice_of!("vneid", "Tài khoản VNeID", "VNeID account", Vneid).asked_from(14),
        choice_of!(
            "paymentAccount",
            "Tài khoản thanh toán",
            "Payment account",
            PaymentAccount
        )
        .asked_from(15),
        q(
            "paymentOnPhone",
            Kind::Boolean,
            "Dùng được tài khoản thanh toán trên điện thoại",
            "Can use the payment account on the phone",
        )
        .asked_from(15),
    ];
    for (key, (vi, en)) in SKILL_KEYS.iter().zip(SKILL_LABELS) {
        member.push(q(&format!("skills/{key}"), Kind::Boolean, vi, en).asked_from(10));
    }
    member.extend([
        q(
            "vneidCourseConfirmed",
            Kind::Boolean,
            "Đã được xác nhận trên VNeID",
            "Course completion confirmed on VNeID",
        )
        .asked_from(15),
        q(
            "wantsToLearn",
            Kind::Boolean,
            "Muốn học kỹ năng số",
            "Wants to learn",
        )
        .asked_from(10),
        q(
            "mentorId",
            Kind::Text,
            "Đại sứ số hướng dẫn",
            "Digital ambassador (mentor)",
        )
        .asked_from(10),
    ]);
    Questionnaire {
        schema: SCHEMA_V1.into(),
        sections: vec![
            Section {
                id: "household".into(),
                scope: Scope::Household,
                label_vi: "Hộ gia đình".into(),
                label_en: "Household".into(),
                questions: household,
            },
            Section {
                id: "member".into(),
                scope: Scope::Member,
                label_vi: "Thành viên".into(),
                label_en: "Member".into(),
                questions: member,
            },
        ],
    }
}
