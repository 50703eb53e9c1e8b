//! Validation rules of a household survey beyond types: consent, plausible birth years, required
//! member fields, exactly one head, well-formed photo hashes.

use crate::finding::{Finding, pointer};
use crate::model::{Household, MIN_BIRTH_YEAR, Relation, SCHEMA_V1, is_sha256_hex};

/// Member fields without which a member cannot be reviewed.
const REQUIRED_MEMBER_FIELDS: [(&str, &str); 2] = [
    ("fullName", "họ và tên"),
    ("relation", "quan hệ với chủ hộ"),
];

/// Checks a parsed household; `reference_year` is the current year (no birth year after it).
pub fn household(h: &Household, reference_year: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    schema(h, &mut out);
    consent(h, &mut out);
    members(h, reference_year, &mut out);
    photos(h, &mut out);
    out
}

fn schema(h: &Household, out: &mut Vec<Finding>) {
    match h.schema.as_deref() {
        None => out.push(Finding::error(
            "/schema",
            "schema-missing",
            "Tài liệu không có khóa schema".into(),
            format!("the document has no schema key (expected \"{SCHEMA_V1}\")"),
        )),
        Some(SCHEMA_V1) => {}
        Some(other) => out.push(Finding::error(
            "/schema",
            "schema-unsupported",
            format!("Phiên bản biểu mẫu không được hỗ trợ: \"{other}\""),
            format!("unsupported schema \"{other}\" (expected \"{SCHEMA_V1}\")"),
        )),
    }
    if let Some(code) = &h.commune_code
        && !(code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit()))
    {
        out.push(Finding::error(
            "/communeCode",
            "commune-code-malformed",
            format!("Mã xã phải gồm 5 chữ số: \"{code}\""),
            format!("commune code must be 5 digits: \"{code}\""),
        ));
    }
    if h.hamlet_id.as_deref().is_none_or(|id| id.trim().is_empty()) {
        out.push(Finding::error(
            "/hamletId",
            "hamlet-missing",
            "Chưa ghi thôn/tổ dân phố".into(),
            "no hamlet recorded".into(),
        ));
    }
}

/// Without consent only the hamlet, the address and the consent itself may be recorded.
fn consent(h: &Household, out: &mut Vec<Finding>) {
    if h.consent_given() {
        return;
    }
    let recorded = [
        ("members", !h.members.is_empty()),
        ("photos", !h.photos.is_empty()),
        ("visits", !h.visits.is_empty()),
        ("notes", h.notes.is_some()),
    ];
    for (key, present) in recorded {
        if present {
            out.push(Finding::error(
                pointer("", key),
                "consent-missing",
                "Đã ghi thông tin cá nhân khi hộ chưa đồng ý cung cấp thông tin".into(),
                "personal data recorded without the household's consent".into(),
            ));
        }
    }
}

fn members(h: &Household, reference_year: i64, out: &mut Vec<Finding>) {
    for (id, m) in &h.members {
        let path = pointer("/members", id);
        if let Some(year) = m.birth_year {
            let at = pointer(&path, "birthYear");
            if year > reference_year {
                out.push(Finding::error(
                    at,
                    "birth-year-future",
                    format!("Năm sinh {year} sau năm {reference_year}"),
                    format!("birth year {year} is after {reference_year}"),
                ));
            } else if year < MIN_BIRTH_YEAR {
                out.push(Finding::error(
                    at,
                    "birth-year-too-early",
                    format!("Năm sinh {year} trước năm {MIN_BIRTH_YEAR}"),
                    format!("birth year {year} is before {MIN_BIRTH_YEAR}"),
                ));
            }
        }
        let present = [m.full_name.is_some(), m.relation.is_some()];
        for ((key, label_vi), present) in REQUIRED_MEMBER_FIELDS.iter().zip(present) {
            if !present {
                out.push(Finding::error(
                    pointer(&path, key),
                    "member-missing-field",
                    format!("Thành viên chưa có {label_vi}"),
                    format!("member has no {key}"),
                ));
            }
        }
    }
    if h.members.is_empty() {
        return;
    }
    let heads = h
        .members
        .values()
        .filter(|m| m.relation == Some(Relation::Head))
        .count();
    match heads {
        1 => {}
        0 => out.push(Finding::error(
            "/members",
            "no-head",
            "Hộ chưa có chủ hộ".into(),
            "the household has no head".into(),
        )),
        n => out.push(Finding::error(
            "/members",
            "several-heads",
            format!("Hộ có {n} chủ hộ"),
            format!("the household has {n} heads"),
        )),
    }
}

fn photos(h: &Household, out: &mut Vec<Finding>) {
    for (hash, photo) in &h.photos {
        let path = pointer("/photos", hash);
        if !is_sha256_hex(hash) {
            out.push(Finding::error(
                path.clone(),
                "photo-hash-malformed",
                "Mã ảnh phải là sha256 gồm 64 ký tự hex viết thường".into(),
                format!("photo key \"{hash}\" is not a lowercase sha256 hex digest"),
            ));
        }
        if let Some(member) = &photo.member_id
            && !h.members.contains_key(member)
        {
            out.push(Finding::warning(
                pointer(&path, "memberId"),
                "photo-member-unknown",
                "Ảnh gắn với thành viên không có trong hộ".into(),
                format!("photo refers to member \"{member}\" who is not in the household"),
            ));
        }
    }
}
