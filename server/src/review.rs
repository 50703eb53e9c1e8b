//! Review of households by hamlet heads: where each household stands in the queue, and the
//! checks a decision passes before it is recorded.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::storage::{Decision, HouseholdSummary, Review, ReviewedHousehold};

/// Where a household stands in its hamlet head's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReviewState {
    /// Never decided on, nothing flagged.
    New,
    /// Never decided on, with findings or conflicting values to look at.
    NeedsAttention,
    /// Never decided on, and likely the same household as another of the hamlet (its address,
    /// once normalised): one of them may be a second survey of the same house.
    PossibleDuplicate,
    /// Decided on, then changed by a phone or a reviewer.
    ChangedSinceReview,
    Approved,
    Rejected,
    CorrectionRequested,
}

impl ReviewState {
    pub const ALL: [ReviewState; 7] = [
        ReviewState::New,
        ReviewState::NeedsAttention,
        ReviewState::PossibleDuplicate,
        ReviewState::ChangedSinceReview,
        ReviewState::Approved,
        ReviewState::Rejected,
        ReviewState::CorrectionRequested,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::New => "new",
            ReviewState::NeedsAttention => "needs-attention",
            ReviewState::PossibleDuplicate => "possible-duplicate",
            ReviewState::ChangedSinceReview => "changed-since-review",
            ReviewState::Approved => "approved",
            ReviewState::Rejected => "rejected",
            ReviewState::CorrectionRequested => "correction-requested",
        }
    }

    pub fn parse(text: &str) -> Option<ReviewState> {
        ReviewState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// As hamlet heads and clerks read it.
    pub fn label_vi(self) -> &'static str {
        match self {
            ReviewState::New => "Mới",
            ReviewState::NeedsAttention => "Cần xem kỹ",
            ReviewState::PossibleDuplicate => "Có thể trùng hộ",
            ReviewState::ChangedSinceReview => "Đã thay đổi sau khi duyệt",
            ReviewState::Approved => "Đã duyệt",
            ReviewState::Rejected => "Từ chối",
            ReviewState::CorrectionRequested => "Yêu cầu sửa",
        }
    }

    /// The state of a household from its summary, whether it is a possible duplicate, and its
    /// latest decision, if any.
    pub fn of(
        summary: &HouseholdSummary,
        duplicate: bool,
        reviewed: Option<&ReviewedHousehold>,
    ) -> ReviewState {
        ReviewState::from_parts(
            summary.finding_count > 0 || summary.conflict_count > 0,
            duplicate,
            reviewed.map(|r| (&r.review, r.current_heads.as_slice())),
        )
    }

    /// The state from whether anything is flagged, whether it is a possible duplicate, and the
    /// latest decision with the heads the household has now (sorted).
    pub fn from_parts(
        flagged: bool,
        duplicate: bool,
        reviewed: Option<(&Review, &[String])>,
    ) -> ReviewState {
        match reviewed {
            None if duplicate => ReviewState::PossibleDuplicate,
            None if flagged => ReviewState::NeedsAttention,
            None => ReviewState::New,
            Some((review, now)) if now != review.heads.as_slice() => {
                ReviewState::ChangedSinceReview
            }
            Some((review, _)) => match review.decision {
                Decision::Approved => ReviewState::Approved,
                Decision::Rejected => ReviewState::Rejected,
                Decision::CorrectionRequested => ReviewState::CorrectionRequested,
            },
        }
    }
}

/// Counts per state, every state present (zero included), in the queue's order.
pub fn count_states(
    states: impl IntoIterator<Item = ReviewState>,
) -> BTreeMap<&'static str, usize> {
    let mut counts: BTreeMap<&'static str, usize> =
        ReviewState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for state in states {
        *counts.entry(state.as_str()).or_default() += 1;
    }
    counts
}

/// Longest comment kept, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// Why a decision was refused before it reached the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidDecision {
    pub code: &'static str,
    /// The request field at fault.
    pub field: &'static str,
    pub message: String,
}

/// Trims and checks a decision's comment: a rejection needs a reason and a correction request
/// says what to correct; nobody writes a novel. Returns the comment to store.
pub fn check_comment(
    decision: Decision,
    comment: Option<&str>,
) -> Result<Option<String>, InvalidDecision> {
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    if let Some(c) = comment
        && c.chars().count() > MAX_COMMENT_CHARS
    {
        return Err(InvalidDecision {
            code: "comment-too-long",
            field: "comment",
            message: format!(
                "Nhận xét dài quá {MAX_COMMENT_CHARS} ký tự / the comment is longer than \
                 {MAX_COMMENT_CHARS} characters"
            ),
        });
    }
    match (decision, comment) {
        (Decision::Rejected, None) => Err(InvalidDecision {
            code: "reason-required",
            field: "comment",
            message: "Hãy ghi lý do từ chối / a rejection needs a reason".into(),
        }),
        (Decision::CorrectionRequested, None) => Err(InvalidDecision {
            code: "comment-required",
            field: "comment",
            message: "Hãy ghi cần sửa gì / say what must be corrected".into(),
        }),
        (_, c) => Ok(c.map(unicode_nfc)),
    }
}

/// The Automerge actor of a reviewer's changes: derived from the user id, so every change a
/// person makes carries the same actor and the history can say who it was.
pub fn reviewer_actor(user_id: &str) -> automerge::ActorId {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("sansang reviewer {user_id}").as_bytes());
    automerge::ActorId::from(&digest[..16])
}

/// `ms` as an RFC 3339 time in Vietnam (UTC+7), as phones show it.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| t.to_offset(crate::VIETNAM))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The segments of a JSON pointer naming a field a reviewer may set: one to four non-empty map
/// keys, not inside `review` (the server's own note), `schema`, `hamletId` or `communeCode`.
pub fn conflict_path(pointer: &str) -> Option<Vec<String>> {
    let rest = pointer.strip_prefix('/')?;
    let segments: Vec<String> = rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    // Where a household belongs is not the reviewer's to move: that goes through the phones'
    // scope checks and quarantine.
    let ok = (1..=4).contains(&segments.len())
        && segments.iter().all(|s| !s.is_empty())
        && !matches!(
            segments[0].as_str(),
            "review" | "schema" | "hamletId" | "communeCode"
        );
    ok.then_some(segments)
}

/// A reviewer's value as an Automerge scalar: a string (NFC, at most 500 characters), a whole
/// number or a boolean.
pub fn scalar(value: &serde_json::Value) -> Option<automerge::ScalarValue> {
    match value {
        serde_json::Value::String(s) if s.chars().count() <= 500 => {
            Some(automerge::ScalarValue::Str(unicode_nfc(s.trim()).into()))
        }
        serde_json::Value::Number(n) => n.as_i64().map(automerge::ScalarValue::Int),
        serde_json::Value::Bool(b) => Some(automerge::ScalarValue::Boolean(*b)),
        _ => None,
    }
}

fn unicode_nfc(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfc().collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn summary(findings: i64, conflicts: i64) -> HouseholdSummary {
        HouseholdSummary {
            document_id: "d".into(),
            commune_code: Some("10846".into()),
            hamlet_id: Some("T01".into()),
            address: None,
            consent_given: true,
            member_count: 2,
            finding_count: findings,
            error_count: 0,
            conflict_count: conflicts,
            updated_at: 0,
        }
    }

    fn reviewed(decision: Decision, heads: &[&str], now: &[&str]) -> ReviewedHousehold {
        let owned = |h: &[&str]| h.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        ReviewedHousehold {
            review: Review {
                document_id: "d".into(),
                version: 1,
                decision,
                comment: None,
                heads: owned(heads),
                decided_by: "u".into(),
                decided_at: 0,
            },
            current_heads: owned(now),
        }
    }

    #[test]
    fn states_follow_findings_decisions_and_heads() {
        assert_eq!(
            ReviewState::of(&summary(0, 0), false, None),
            ReviewState::New
        );
        assert_eq!(
            ReviewState::of(&summary(1, 0), false, None),
            ReviewState::NeedsAttention
        );
        assert_eq!(
            ReviewState::of(&summary(0, 2), false, None),
            ReviewState::NeedsAttention
        );
        assert_eq!(
            ReviewState::of(&summary(1, 0), true, None),
            ReviewState::PossibleDuplicate
        );
        let approved = reviewed(Decision::Approved, &["a1"], &["a1"]);
        // Findings seen at the decision do not pull it back into the queue.
        assert_eq!(
            ReviewState::of(&summary(3, 1), true, Some(&approved)),
            ReviewState::Approved
        );
        let changed = reviewed(Decision::Approved, &["a1"], &["b2"]);
        assert_eq!(
            ReviewState::of(&summary(0, 0), false, Some(&changed)),
            ReviewState::ChangedSinceReview
        );
        let rejected = reviewed(Decision::Rejected, &["a1", "b2"], &["a1", "b2"]);
        assert_eq!(
            ReviewState::of(&summary(0, 0), false, Some(&rejected)),
            ReviewState::Rejected
        );
        for s in ReviewState::ALL {
            assert_eq!(ReviewState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn paths_and_values_a_reviewer_may_write() {
        assert_eq!(
            conflict_path("/members/m~11/vneid"),
            Some(vec!["members".into(), "m/1".into(), "vneid".into()])
        );
        assert_eq!(conflict_path("/address"), Some(vec!["address".into()]));
        for bad in [
            "",
            "address",
            "/",
            "/members//vneid",
            "/review/decision",
            "/a/b/c/d/e",
        ] {
            assert_eq!(conflict_path(bad), None, "{bad}");
        }
        assert_eq!(
            scalar(&serde_json::json!("level2")),
            Some(automerge::ScalarValue::Str("level2".into()))
        );
        assert_eq!(
            scalar(&serde_json::json!(1975)),
            Some(automerge::ScalarValue::Int(1975))
        );
        assert_eq!(scalar(&serde_json::json!(19.5)), None);
        assert_eq!(scalar(&serde_json::json!({"a": 1})), None);
        assert_eq!(scalar(&serde_json::json!(null)), None);
        assert_eq!(reviewer_actor("u1"), reviewer_actor("u1"));
        assert_ne!(reviewer_actor("u1"), reviewer_actor("u2"));
        assert_eq!(rfc3339(0), "1970-01-01T07:00:00+07:00");
    }

    #[test]
    fn counts_hold_every_state() {
        let counts = count_states([ReviewState::New, ReviewState::New, ReviewState::Approved]);
        assert_eq!(counts.len(), 7);
        assert_eq!(counts["new"], 2);
        assert_eq!(counts["approved"], 1);
        assert_eq!(counts["rejected"], 0);
    }

    #[test]
    fn comments_are_required_where_they_matter_and_bounded() {
        assert_eq!(check_comment(Decision::Approved, None), Ok(None));
        assert_eq!(check_comment(Decision::Approved, Some("  ")), Ok(None));
        assert_eq!(
            check_comment(Decision::Rejected, Some("  "))
                .unwrap_err()
                .code,
            "reason-required"
        );
        let missing = check_comment(Decision::CorrectionRequested, None).unwrap_err();
        assert_eq!(
            (missing.code, missing.field),
            ("comment-required", "comment")
        );
        // Decomposed Vietnamese (as some keyboards send it) is stored composed.
        let nfd = "Sai na\u{306}m sinh";
        assert_eq!(
            check_comment(Decision::CorrectionRequested, Some(nfd)).unwrap(),
            Some("Sai năm sinh".into())
        );
        let long = "a".repeat(MAX_COMMENT_CHARS + 1);
        assert_eq!(
            check_comment(Decision::Approved, Some(&long))
                .unwrap_err()
                .code,
            "comment-too-long"
        );
    }
}
