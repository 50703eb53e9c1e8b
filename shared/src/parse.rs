//! Reads the typed household out of document JSON without ever failing: a value of the wrong
//! type or an unknown choice is left out (not recorded) and reported as a finding at its path.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use crate::finding::{Finding, pointer};
use crate::model::{
    Consent, Household, Member, PaymentAccount, PhotoKind, PhotoRef, Relation, ReviewNote,
    SKILL_KEYS, Sex, Skills, Smartphone, Visit, Vneid,
};

/// Parses document JSON (as produced by [`crate::read::document_json`] or a JSON sample).
pub fn household(root: &Json) -> (Household, Vec<Finding>) {
    let mut p = Parser::default();
    let Some(map) = p.object(root, "") else {
        return (Household::default(), p.findings);
    };
    let household = Household {
        schema: p.string(map, "", "schema"),
        commune_code: p.string(map, "", "communeCode"),
        hamlet_id: p.string(map, "", "hamletId"),
        address: p.string(map, "", "address"),
        consent: p.child(map, "", "consent").map(|(m, path)| Consent {
            given: p.bool(m, &path, "given"),
            by: p.string(m, &path, "by"),
            at: p.string(m, &path, "at"),
        }),
        members: p.entries(map, "members", |p, m, path| p.member(m, path)),
        photos: p.entries(map, "photos", |p, m, path| PhotoRef {
            kind: p.choice(m, path, "kind", PhotoKind::parse),
            member_id: p.string(m, path, "memberId"),
            taken_at: p.string(m, path, "takenAt"),
        }),
        visits: p.visits(map),
        notes: p.string(map, "", "notes"),
        roster_code: p.string(map, "", "rosterCode"),
        review: p.child(map, "", "review").map(|(m, path)| ReviewNote {
            decision: p.string(m, &path, "decision"),
            comment: p.string(m, &path, "comment"),
            decided_by: p.string(m, &path, "decidedBy"),
            decided_at: p.string(m, &path, "decidedAt"),
            version: p.int(m, &path, "version"),
        }),
    };
    (household, p.findings)
}

#[derive(Default)]
struct Parser {
    findings: Vec<Finding>,
}

impl Parser {
    fn wrong_type(&mut self, path: &str, expected_vi: &str, expected_en: &str, got: &Json) {
        self.findings.push(Finding::error(
            path,
            "wrong-type",
            format!("Giá trị phải là {expected_vi}, nhưng là {got}"),
            format!("expected {expected_en}, found {got}"),
        ));
    }

    fn object<'a>(&mut self, value: &'a Json, path: &str) -> Option<&'a Map<String, Json>> {
        match value {
            Json::Object(map) => Some(map),
            Json::Null => None,
            other => {
                self.wrong_type(path, "một bảng (map)", "a map", other);
                None
            }
        }
    }

    /// A present, non-null field; `None` when absent (not recorded).
    fn field<'a>(map: &'a Map<String, Json>, key: &str) -> Option<&'a Json> {
        map.get(key).filter(|v| !v.is_null())
    }

    fn string(&mut self, map: &Map<String, Json>, base: &str, key: &str) -> Option<String> {
        match Self::field(map, key)? {
            Json::String(s) => Some(s.clone()),
            other => {
                self.wrong_type(&pointer(base, key), "chuỗi ký tự", "a string", other);
                None
            }
        }
    }

    fn bool(&mut self, map: &Map<String, Json>, base: &str, key: &str) -> Option<bool> {
        match Self::field(map, key)? {
            Json::Bool(b) => Some(*b),
            other => {
                self.wrong_type(&pointer(base, key), "đúng/sai", "a boolean", other);
                None
            }
        }
    }

    fn int(&mut self, map: &Map<String, Json>, base: &str, key: &str) -> Option<i64> {
        let value = Self::field(map, key)?;
        // Phones written in JavaScript may store a whole number as a float.
        let int = value.as_i64().or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        });
        if int.is_none() {
            self.wrong_type(&pointer(base, key), "số nguyên", "an integer", value);
        }
        int
    }

    fn choice<T>(
        &mut self,
        map: &Map<String, Json>,
        base: &str,
        key: &str,
        parse: fn(&str) -> Option<T>,
    ) -> Option<T> {
        let raw = self.string(map, base, key)?;
        let parsed = parse(&raw);
        if parsed.is_none() {
            self.findings.push(Finding::error(
                pointer(base, key),
                "unknown-value",
                format!("Giá trị không hợp lệ: \"{raw}\""),
                format!("unknown value \"{raw}\""),
            ));
        }
        parsed
    }

    fn child<'a>(
        &mut self,
        map: &'a Map<String, Json>,
        base: &str,
        key: &str,
    ) -> Option<(&'a Map<String, Json>, String)> {
        let path = pointer(base, key);
        let value = Self::field(map, key)?;
        self.object(value, &path).map(|m| (m, path))
    }

    /// A map of id → object, each entry read by `read`; entries that are not maps are reported.
    fn entries<T>(
        &mut self,
        map: &Map<String, Json>,
        key: &str,
        read: impl Fn(&mut Self, &Map<String, Json>, &str) -> T,
    ) -> BTreeMap<String, T> {
        let mut out = BTreeMap::new();
        let Some((entries, path)) = self.child(map, "", key) else {
            return out;
        };
        for (id, value) in entries {
            let entry_path = pointer(&path, id);
            if let Some(entry) = self.object(value, &entry_path) {
                out.insert(id.clone(), read(self, entry, &entry_path));
            }
        }
        out
    }

    fn member(&mut self, m: &Map<String, Json>, path: &str) -> Member {
        Member {
            full_name: self.string(m, path, "fullName"),
            birth_year: self.int(m, path, "birthYear"),
            sex: self.choice(m, path, "sex", Sex::parse),
            relation: self.choice(m, path, "relation", Relation::parse),
            smartphone: self.choice(m, path, "smartphone", Smartphone::parse),
            vneid: self.choice(m, path, "vneid", Vneid::parse),
            payment_account: self.choice(m, path, "paymentAccount", PaymentAccount::parse),
            payment_on_phone: self.bool(m, path, "paymentOnPhone"),
            skills: self.child(m, path, "skills").map(|(s, skills_path)| {
                let mut skills = Skills::default();
                for key in SKILL_KEYS {
                    let value = self.bool(s, &skills_path, key);
                    if let Some(slot) = skills.slot_mut(key) {
                        *slot = value;
                    }
                }
                skills
            }),
            vneid_course_confirmed: self.bool(m, path, "vneidCourseConfirmed"),
            wants_to_learn: self.bool(m, path, "wantsToLearn"),
            mentor_id: self.string(m, path, "mentorId"),
        }
    }

    fn visits(&mut self, map: &Map<String, Json>) -> Vec<Visit> {
        let Some(value) = Self::field(map, "visits") else {
            return Vec::new();
        };
        let Json::Array(items) = value else {
            self.wrong_type("/visits", "một danh sách", "a list", value);
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let path = pointer("/visits", &i.to_string());
                let visit = self.object(item, &path)?;
                Some(Visit {
                    at: self.string(visit, &path, "at"),
                    by: self.string(visit, &path, "by"),
                })
            })
            .collect()
    }
}
