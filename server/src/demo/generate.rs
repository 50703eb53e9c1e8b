//! Simulated surveys for the demo commune: varied, plausible Vietnamese households written as
//! real Automerge changes by simulated phones, a few with mistakes and a few with concurrent
//! edits. Deterministic: the same seed gives the same change hashes, so seeding is idempotent.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Change, ROOT, ReadDoc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sansang_shared::model::{
    Consent, PaymentAccount, Relation, Sex, Skills, Smartphone, Visit, Vneid,
};
use sansang_shared::{Household, Member, SCHEMA_V1, write};

use crate::documents::DocumentId;

/// One household as the phones send it: each phone's changes, in the order they sync.
pub struct DemoHousehold {
    pub id: DocumentId,
    pub hamlet_id: String,
    pub phones: Vec<Vec<Change>>,
}

const FAMILY: [(&str, u32); 14] = [
    ("Nguyễn", 38),
    ("Trần", 11),
    ("Lê", 9),
    ("Phạm", 7),
    ("Hoàng", 5),
    ("Vũ", 4),
    ("Phan", 3),
    ("Bùi", 3),
    ("Đặng", 3),
    ("Đỗ", 3),
    ("Ngô", 2),
    ("Dương", 2),
    ("Đinh", 2),
    ("Hồ", 2),
];
const MIDDLE_MALE: [&str; 7] = ["Văn", "Đức", "Minh", "Quang", "Hữu", "Thanh", "Công"];
const MIDDLE_FEMALE: [&str; 6] = ["Thị", "Ngọc", "Thu", "Thanh", "Minh", "Phương"];
const GIVEN_MALE: [&str; 20] = [
    "An", "Bình", "Cường", "Dũng", "Hùng", "Hải", "Huy", "Khánh", "Long", "Minh", "Nam", "Phong",
    "Quân", "Sơn", "Tài", "Thắng", "Trung", "Tuấn", "Việt", "Vinh",
];
const GIVEN_FEMALE: [&str; 20] = [
    "Anh", "Bích", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hoa", "Hương", "Lan", "Linh", "Mai",
    "Nga", "Ngọc", "Nhung", "Phương", "Thảo", "Trang", "Tuyết", "Yến",
];
const XOM: [&str; 5] = ["Đông", "Tây", "Giữa", "Trại", "Chùa"];

/// The day the demo surveys start: 2026-11-02, 08:00 in Vietnam (UTC+7), in Unix ms.
const START_MS: i64 = 1_793_581_200_000;
const DAY_MS: i64 = 86_400_000;

/// Household documents for `hamlets` (id, name), `count` in all, spread evenly.
pub fn households(
    commune_code: &str,
    hamlets: &[(String, String)],
    count: usize,
    reference_year: i64,
) -> Vec<DemoHousehold> {
    let mut rng = StdRng::seed_from_u64(10_846);
    (0..count)
        .map(|i| {
            let (hamlet_id, hamlet_name) = &hamlets[i % hamlets.len()];
            let mut g = Gen {
                rng: &mut rng,
                reference_year,
            };
            g.household(commune_code, hamlet_id, hamlet_name, i)
        })
        .collect()
}

struct Gen<'a> {
    rng: &'a mut StdRng,
    reference_year: i64,
}

impl Gen<'_> {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    fn pick<'s>(&mut self, items: &[&'s str]) -> &'s str {
        items[self.rng.random_range(0..items.len())]
    }

    fn family_name(&mut self) -> &'static str {
        let total: u32 = FAMILY.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.random_range(0..total);
        for (name, weight) in FAMILY {
            if roll < weight {
                return name;
            }
            roll -= weight;
        }
        FAMILY[0].0
    }

    fn full_name(&mut self, family: &str, sex: Sex) -> String {
        let (middle, given) = match sex {
            Sex::Female => (self.pick(&MIDDLE_FEMALE), self.pick(&GIVEN_FEMALE)),
            _ => (self.pick(&MIDDLE_MALE), self.pick(&GIVEN_MALE)),
        };
        format!("{family} {middle} {given}")
    }

    fn uuid(&mut self) -> String {
        uuid::Builder::from_random_bytes(self.rng.random())
            .into_uuid()
            .to_string()
    }

    /// Leaves an answer out now and then: volunteers do not always ask everything.
    fn recorded<T>(&mut self, value: T) -> Option<T> {
        (!self.chance(0.04)).then_some(value)
    }

    fn member(
        &mut self,
        name: String,
        sex: Sex,
        relation: Relation,
        age: i64,
        hamlet: &str,
    ) -> Member {
        let year = self.reference_year - age;
        let mut m = Member {
            full_name: Some(name),
            birth_year: self.recorded(year),
            sex: Some(sex),
            relation: Some(relation),
            ..Member::default()
        };
        // How at ease with phones this person is, by age, with personal variation.
        let base: f64 = match age {
            ..18 => 0.6,
            18..40 => 0.8,
            40..60 => 0.55,
            _ => 0.25,
        };
        let jitter: f64 = self.rng.random_range(-0.2..0.2);
        let ease = (base + jitter).clamp(0.02, 0.98);
        if age >= 10 {
            let phone = if self.chance(ease + 0.1) {
                Smartphone::Own
            } else if self.chance(0.5) {
                Smartphone::Shared
            } else {
                Smartphone::None
            };
            m.smartphone = self.recorded(phone);
            let mut skills = Skills::default();
            for key in sansang_shared::model::SKILL_KEYS {
                let value = self.chance(ease);
                if let Some(slot) = skills.slot_mut(key) {
                    *slot = self.recorded(value);
                }
            }
            m.skills = Some(skills);
            m.wants_to_learn = Some(!m.has_all_skills() && self.chance(0.6));
            if m.wants_to_learn == Some(true) && self.chance(0.7) {
                let n = self.rng.random_range(1..=3);
                m.mentor_id = Some(format!("DSS-{hamlet}-{n}"));
            }
        }
        if age >= 14 {
            let roll: f64 = self.rng.random();
            let level = match roll {
                r if r < 0.55 + ease * 0.3 => Vneid::Level2,
                r if r < 0.85 + ease * 0.1 => Vneid::Level1,
                r if r < 0.95 => Vneid::Registered,
                _ => Vneid::None,
            };
            m.vneid = self.recorded(level);
        }
        if age >= 15 {
            let account = if self.chance(ease + 0.15) {
                if self.chance(0.8) {
                    PaymentAccount::Bank
                } else {
                    PaymentAccount::Ewallet
                }
            } else {
                PaymentAccount::None
            };
            m.payment_account = self.recorded(account);
            m.payment_on_phone = (account != PaymentAccount::None).then(|| self.chance(0.75));
            let confirmed = if m.has_all_skills() { 0.75 } else { 0.1 };
            let confirmed = self.chance(confirmed);
            m.vneid_course_confirmed = self.recorded(confirmed);
        }
        m
    }

    fn household(
        &mut self,
        commune: &str,
        hamlet_id: &str,
        hamlet_name: &str,
        i: usize,
    ) -> DemoHousehold {
        let id = DocumentId::from_bytes(self.rng.random());
        let day = (i / 60) as i64;
        let time = START_MS + day * DAY_MS + (i % 60) as i64 * 600_000;
        let at = rfc3339_vietnam(time);
        let device = format!("demo-phone-{hamlet_id}");
        let address = format!(
            "Số {}, xóm {}, {hamlet_name}",
            self.rng.random_range(1..200),
            self.pick(&XOM)
        );
        let consent_given = !self.chance(0.05);
        let family = self.family_name();
        let head_sex = if self.chance(0.78) {
            Sex::Male
        } else {
            Sex::Female
        };
        let head_name = self.full_name(family, head_sex);
        let mut h = Household {
            schema: Some(SCHEMA_V1.into()),
            commune_code: Some(commune.into()),
            hamlet_id: Some(hamlet_id.into()),
            address: Some(address),
            consent: Some(Consent {
                given: Some(consent_given),
                by: consent_given.then(|| head_name.clone()),
                at: Some(at.clone()),
            }),
            ..Household::default()
        };
        if consent_given {
            h.visits.push(Visit {
                at: Some(at),
                by: Some(device.clone()),
            });
            self.members(&mut h, family, head_sex, head_name, hamlet_id);
        }
        let flawed = consent_given && self.chance(0.05);
        if flawed {
            self.add_flaw(&mut h);
        }

        let actor = ActorId::from(device.as_bytes());
        let mut phone_a = AutoCommit::new().with_actor(actor);
        // The typed writer cannot write an unknown choice; a flawed phone app could.
        let _ = write::household(&mut phone_a, &h);
        if flawed && self.chance(0.3) {
            put_member_field(&mut phone_a, &h, "vneid", "muc2");
        }
        phone_a.commit_with(CommitOptions::default().with_time(time / 1000));
        let mut phones = vec![phone_a.get_changes(&[])];

        // A second phone that never saw the first one's follow-up edits the same answer.
        let conflicting = consent_given && !flawed && self.chance(0.04);
        if conflicting {
            let heads = phone_a.get_heads();
            let mut phone_b = phone_a
                .fork()
                .with_actor(ActorId::from(format!("{device}-b").as_bytes()));
            // Both phones write a level different from the one recorded, and from each other.
            let current = h.members.values().next().and_then(|m| m.vneid);
            let mut levels = Vneid::ALL.iter().rev().filter(|&&l| Some(l) != current);
            let (a, b) = (levels.next(), levels.next());
            put_member_field(
                &mut phone_a,
                &h,
                "vneid",
                a.map_or("level2", |l| l.as_str()),
            );
            put_member_field(
                &mut phone_b,
                &h,
                "vneid",
                b.map_or("level1", |l| l.as_str()),
            );
            let later = time / 1000 + 86_400;
            phone_a.commit_with(CommitOptions::default().with_time(later));
            phone_b.commit_with(CommitOptions::default().with_time(later));
            phones[0] = phone_a.get_changes(&[]);
            phones.push(phone_b.get_changes(&heads));
        }
        DemoHousehold {
            id,
            hamlet_id: hamlet_id.into(),
            phones,
        }
    }

    fn members(
        &mut self,
        h: &mut Household,
        family: &str,
        head_sex: Sex,
        head_name: String,
        hamlet: &str,
    ) {
        let head_age = self.rng.random_range(26..82);
        let head = self.member(head_name, head_sex, Relation::Head, head_age, hamlet);
        h.members.insert(self.uuid(), head);
        if head_age < 76 && self.chance(0.8) {
            let sex = if head_sex == Sex::Male {
                Sex::Female
            } else {
                Sex::Male
            };
            let spouse_family = self.family_name();
            let name = self.full_name(spouse_family, sex);
            let age = (head_age + self.rng.random_range(-6..4)).max(20);
            let spouse = self.member(name, sex, Relation::Spouse, age, hamlet);
            h.members.insert(self.uuid(), spouse);
        }
        let children = if head_age < 70 {
            self.rng.random_range(0..4)
        } else {
            0
        };
        for _ in 0..children {
            let sex = if self.chance(0.5) {
                Sex::Male
            } else {
                Sex::Female
            };
            let name = self.full_name(family, sex);
            let age = (head_age - self.rng.random_range(20..36)).max(0);
            let child = self.member(name, sex, Relation::Child, age, hamlet);
            h.members.insert(self.uuid(), child);
        }
        if head_age < 55 && self.chance(0.25) {
            let sex = if self.chance(0.6) {
                Sex::Female
            } else {
                Sex::Male
            };
            let name = self.full_name(family, sex);
            let age = (head_age + self.rng.random_range(22..32)).min(98);
            let parent = self.member(name, sex, Relation::Parent, age, hamlet);
            h.members.insert(self.uuid(), parent);
        }
    }

    /// One of the mistakes volunteers make, for the hamlet head to catch.
    fn add_flaw(&mut self, h: &mut Household) {
        let Some(first) = h.members.keys().next().cloned() else {
            return;
        };
        let last = h
            .members
            .keys()
            .last()
            .cloned()
            .unwrap_or_else(|| first.clone());
        let several = h.members.len() > 1;
        match self.rng.random_range(0..4) {
            0 | 1 if !several => {
                if let Some(m) = h.members.get_mut(&last) {
                    m.birth_year = Some(3000 - self.rng.random_range(0..10));
                }
            }
            0 => {
                if let Some(m) = h.members.get_mut(&last) {
                    m.birth_year = Some(3000 - self.rng.random_range(0..10));
                }
            }
            1 => {
                if let Some(m) = h.members.get_mut(&last) {
                    m.relation = Some(Relation::Head);
                }
            }
            2 => {
                let name = self.full_name("Nguyễn", Sex::Female);
                let extra = Member {
                    full_name: Some(name),
                    birth_year: Some(self.reference_year - 12),
                    ..Member::default()
                };
                h.members.insert(self.uuid(), extra);
            }
            _ => {
                if let Some(m) = h.members.get_mut(&first) {
                    m.birth_year = Some(1850 + self.rng.random_range(0..40));
                }
            }
        }
    }
}

/// Sets a raw string field of the household's first member (head first in map order).
fn put_member_field(doc: &mut AutoCommit, h: &Household, key: &str, value: &str) {
    let Some(member_id) = h.members.keys().next() else {
        return;
    };
    let member = doc
        .get(ROOT, "members")
        .ok()
        .flatten()
        .and_then(|(_, members)| doc.get(&members, member_id.as_str()).ok().flatten());
    if let Some((_, obj)) = member {
        let _ = doc.put(&obj, key, value);
    }
}

/// Unix ms as an RFC 3339 timestamp in Vietnam's time zone.
fn rfc3339_vietnam(ms: i64) -> String {
    let offset = time::macros::offset!(+7);
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .map(|t| t.to_offset(offset))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hamlets() -> Vec<(String, String)> {
        vec![
            ("T01".into(), "Thôn An Lạc".into()),
            ("T02".into(), "Thôn Bắc Sơn".into()),
        ]
    }

    #[test]
    fn same_seed_same_changes() {
        let a = households("10846", &hamlets(), 20, 2026);
        let b = households("10846", &hamlets(), 20, 2026);
        let hashes = |hs: &[DemoHousehold]| -> Vec<String> {
            hs.iter()
                .flat_map(|h| h.phones.iter().flatten().map(|c| c.hash().to_string()))
                .collect()
        };
        assert_eq!(hashes(&a), hashes(&b));
        assert_eq!(a[0].id, b[0].id);
        assert_eq!(rfc3339_vietnam(START_MS), "2026-11-02T08:00:00+07:00");
    }

    #[test]
    fn a_thousand_households_have_flaws_and_conflicts() {
        let all = households("10846", &hamlets(), 1000, 2026);
        let (mut flawed, mut conflicting, mut refused) = (0, 0, 0);
        for h in &all {
            let mut doc = automerge::Automerge::new();
            for phone in &h.phones {
                doc.apply_changes(phone.iter().cloned()).unwrap();
            }
            let p = sansang_shared::read::project(&doc, &doc.get_heads(), 2026);
            flawed += usize::from(p.has_errors());
            conflicting += usize::from(!p.conflicts.is_empty());
            refused += usize::from(!p.household.consent_given());
            assert_eq!(!p.conflicts.is_empty(), h.phones.len() == 2);
        }
        assert!((30..80).contains(&flawed), "{flawed}");
        assert!((20..70).contains(&conflicting), "{conflicting}");
        assert!((25..80).contains(&refused), "{refused}");
    }
}
