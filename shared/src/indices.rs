//! Readiness indices: the plan's indicators per hamlet and for the commune, each number
//! recomputable by hand from the surveys (DOMAIN.md, "Readiness indices").
//!
//! Pure functions over already-read households: no I/O, no clock (the reference year is a
//! setting), no suppression of small cells (that belongs to publishing, not to counting).
//!
//! Which households count, per area (a hamlet, or the whole commune):
//! - `householdsTotal`: every household given for the area, whatever its consent or review state;
//! - `householdsNoConsent`: households without `consent.given = true`, counted among **all** the
//!   area's households regardless of review state, so the figure does not change with the view;
//!   they never enter a denominator;
//! - `householdsNotApproved`: households with consent that the view leaves out (not approved, in
//!   the approved view; always 0 in the all-surveyed view);
//! - `householdsCounted`: the rest, the ones every indicator is computed over.
//!
//! So `total = counted + noConsent + notApproved`. Every count of the commune is the sum of the
//! same count over its hamlets, except mentoring: an ambassador is one person however many
//! hamlets their mentees live in, so the commune counts each ambassador's mentees across all
//! hamlets while a hamlet counts only the mentees in its own counted households.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Household, Member, PaymentAccount, Smartphone, Vneid};

/// Age from which digital identity and payment account count ("every citizen aged 16+").
pub const IDENTITY_AGE: i64 = 16;
/// Age from which a member is an adult for smartphone, skills and VNeID confirmation.
pub const ADULT_AGE: i64 = 18;
/// Mentees an ambassador must guide to reach the mentoring target.
pub const MENTEES_PER_AMBASSADOR: u64 = 5;

/// The indicators, in report order; the wire name is the stable key (e.g. `digital-identity`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum IndicatorKey {
    /// Members aged 16+ at VNeID level 2.
    DigitalIdentity,
    /// Members aged 16+ with a bank account or an e-wallet.
    PaymentAccount,
    /// Members aged 18+ who own a smartphone.
    SmartphonePeople,
    /// Households with a member who owns a smartphone.
    SmartphoneHouseholds,
    /// Members aged 18+ with all five basic skills.
    BasicSkills,
    /// Members aged 18+ whose course completion is confirmed on VNeID.
    VneidConfirmed,
    /// Households with a member (any age) with all five basic skills.
    DigitalHousehold,
    /// Ambassadors guiding at least five mentees, among those guiding at least one.
    Mentoring,
}

impl IndicatorKey {
    /// Every indicator, in report order (the order of [`AreaIndices::indicators`]).
    pub const ALL: [IndicatorKey; 8] = [
        IndicatorKey::DigitalIdentity,
        IndicatorKey::PaymentAccount,
        IndicatorKey::SmartphonePeople,
        IndicatorKey::SmartphoneHouseholds,
        IndicatorKey::BasicSkills,
        IndicatorKey::VneidConfirmed,
        IndicatorKey::DigitalHousehold,
        IndicatorKey::Mentoring,
    ];

    /// Key, name of its field in [`Targets`], Vietnamese and English labels: kept in one table so
    /// they cannot drift apart.
    fn names(self) -> [&'static str; 4] {
        match self {
            IndicatorKey::DigitalIdentity => [
                "digital-identity",
                "digitalIdentity",
                "Danh tính số (mức 2)",
                "Digital identity (level 2)",
            ],
            IndicatorKey::PaymentAccount => [
                "payment-account",
                "paymentAccount",
                "Tài khoản thanh toán",
                "Payment account",
            ],
            IndicatorKey::SmartphonePeople => [
                "smartphone-people",
                "smartphonePeople",
                "Điện thoại thông minh (người)",
                "Smartphone (people)",
            ],
            IndicatorKey::SmartphoneHouseholds => [
                "smartphone-households",
                "smartphoneHouseholds",
                "Điện thoại thông minh (hộ)",
                "Smartphone (households)",
            ],
            IndicatorKey::BasicSkills => [
                "basic-skills",
                "basicSkills",
                "Kỹ năng số cơ bản",
                "Basic digital skills",
            ],
            IndicatorKey::VneidConfirmed => [
                "vneid-confirmed",
                "vneidConfirmed",
                "Đã được xác nhận trên VNeID",
                "Confirmed on VNeID",
            ],
            IndicatorKey::DigitalHousehold => [
                "digital-household",
                "digitalHousehold",
                "Gia đình số",
                "Digital household",
            ],
            IndicatorKey::Mentoring => [
                "mentoring",
                "mentoring",
                "Đại sứ số hướng dẫn ≥ 5 người",
                "Digital ambassadors guiding ≥ 5 people",
            ],
        }
    }

    /// The stable key, as serialised (e.g. `digital-identity`).
    pub fn as_str(self) -> &'static str {
        self.names()[0]
    }

    /// The name of this indicator's field in [`Targets`] (camelCase, as in settings files).
    pub fn target_field(self) -> &'static str {
        self.names()[1]
    }

    /// The label shown to people, in Vietnamese.
    pub fn label_vi(self) -> &'static str {
        self.names()[2]
    }

    /// The label shown to people, in English.
    pub fn label_en(self) -> &'static str {
        self.names()[3]
    }
}

/// Which households are counted, besides consent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum View {
    /// Only households the hamlet head approved: the figures reported upward.
    #[default]
    Approved,
    /// Every surveyed household, approved or not: to follow the campaign while reviews lag.
    AllSurveyed,
}

impl View {
    fn includes(self, approved: bool) -> bool {
        match self {
            View::Approved => approved,
            View::AllSurveyed => true,
        }
    }
}

/// Targets in percent (0–100) per indicator; `None` means the indicator is shown without one.
/// They are settings per year, not constants, because each commune's plan sets its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Targets {
    pub digital_identity: Option<f64>,
    pub payment_account: Option<f64>,
    pub smartphone_people: Option<f64>,
    pub smartphone_households: Option<f64>,
    pub basic_skills: Option<f64>,
    pub vneid_confirmed: Option<f64>,
    pub digital_household: Option<f64>,
    pub mentoring: Option<f64>,
}

impl Targets {
    /// The targets of the plan this project was built from (2025 and 2026 alike).
    pub fn plan_default() -> Self {
        Targets {
            digital_identity: Some(100.0),
            payment_account: Some(100.0),
            smartphone_people: None,
            smartphone_households: None,
            basic_skills: Some(80.0),
            vneid_confirmed: Some(80.0),
            digital_household: Some(100.0),
            mentoring: Some(100.0),
        }
    }

    /// The target of one indicator.
    pub fn get(&self, key: IndicatorKey) -> Option<f64> {
        match key {
            IndicatorKey::DigitalIdentity => self.digital_identity,
            IndicatorKey::PaymentAccount => self.payment_account,
            IndicatorKey::SmartphonePeople => self.smartphone_people,
            IndicatorKey::SmartphoneHouseholds => self.smartphone_households,
            IndicatorKey::BasicSkills => self.basic_skills,
            IndicatorKey::VneidConfirmed => self.vneid_confirmed,
            IndicatorKey::DigitalHousehold => self.digital_household,
            IndicatorKey::Mentoring => self.mentoring,
        }
    }

    /// Checks every target is a percentage in 0..=100 (NaN is rejected too); the error names the
    /// first field at fault.
    pub fn validate(&self) -> Result<(), TargetError> {
        for key in IndicatorKey::ALL {
            if let Some(value) = self.get(key)
                && !is_percent(value)
            {
                return Err(TargetError {
                    field: key.target_field(),
                    key,
                    value,
                });
            }
        }
        Ok(())
    }
}

fn is_percent(value: f64) -> bool {
    (0.0..=100.0).contains(&value)
}

/// A target that is not a percentage between 0 and 100.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("target `{field}` must be a percentage between 0 and 100, got {value}")]
pub struct TargetError {
    /// The field of [`Targets`] at fault, as written in settings (e.g. `basicSkills`).
    pub field: &'static str,
    pub key: IndicatorKey,
    pub value: f64,
}

/// What a computation needs besides the households.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndexSettings {
    /// Ages are this year minus the birth year: the year of the report date, not "now", so that
    /// a report can be recomputed later with the same numbers.
    pub reference_year: i64,
    pub view: View,
    /// Expected to be validated ([`Targets::validate`]); a target outside 0–100 is ignored by
    /// [`compute`] (treated as no target) rather than turned into a meaningless gap.
    pub targets: Targets,
}

impl IndexSettings {
    /// The approved view with the plan's targets.
    pub fn new(reference_year: i64) -> Self {
        IndexSettings {
            reference_year,
            view: View::Approved,
            targets: Targets::plan_default(),
        }
    }
}

/// One household to count, with what the server knows beside the document.
#[derive(Debug, Clone, Copy)]
pub struct HouseholdInput<'a> {
    /// The hamlet the household is filed under (the server's, not the phone's claim).
    pub hamlet_id: &'a str,
    /// Whether the hamlet head approved the current version.
    pub approved: bool,
    pub household: &'a Household,
}

/// One indicator of one area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Indicator {
    pub key: IndicatorKey,
    pub label_vi: String,
    pub label_en: String,
    pub numerator: u64,
    pub denominator: u64,
    /// Members (or households) of the denominator not reached because the field was not
    /// recorded; already counted as not reached, shown so nobody mistakes them for a "no".
    pub not_recorded: u64,
    /// `100 × numerator / denominator`; `None` when the denominator is 0 ("no data").
    pub percent: Option<f64>,
    pub target: Option<f64>,
    /// Percentage points still missing, `max(0, target − percent)`; `None` without a target or
    /// without data.
    pub gap: Option<f64>,
    /// People (households, ambassadors) still needed: `max(0, ⌈target × denominator / 100⌉ −
    /// numerator)`; `None` without a target or without data.
    pub missing: Option<u64>,
    /// Digital identity only: members of the same age band at VNeID level 1, shown beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level1: Option<u64>,
}

impl Indicator {
    fn new(key: IndicatorKey, count: Count, target: Option<f64>, level1: Option<u64>) -> Self {
        let target = target.filter(|t| is_percent(*t));
        // Multiplying first keeps whole percentages whole: 100 × 7 / 100 is 7.0, whereas
        // 7 / 100 × 100 is 7.000000000000001.
        let percent = (count.denominator > 0)
            .then(|| 100.0 * count.numerator as f64 / count.denominator as f64);
        let gap = target.zip(percent).map(|(t, p)| (t - p).max(0.0));
        let missing = target
            .filter(|_| count.denominator > 0)
            .map(|t| still_needed(t, count.numerator, count.denominator));
        Indicator {
            key,
            label_vi: key.label_vi().to_owned(),
            label_en: key.label_en().to_owned(),
            numerator: count.numerator,
            denominator: count.denominator,
            not_recorded: count.not_recorded,
            percent,
            target,
            gap,
            missing,
            level1,
        }
    }
}

/// How many more must be reached for `target` percent of `denominator`, computed in integer
/// basis points: in floating point 7 % of 100 is 7.000000000000001, which would round up to 8.
/// Targets are therefore read to a hundredth of a percentage point.
fn still_needed(target: f64, numerator: u64, denominator: u64) -> u64 {
    let basis_points = (target * 100.0).round() as u128;
    let needed = (basis_points * u128::from(denominator)).div_ceil(10_000);
    // `needed` never exceeds the denominator since the target is at most 100 %.
    u64::try_from(needed)
        .unwrap_or(denominator)
        .saturating_sub(numerator)
}

/// The households and members behind an area's indicators, then the indicators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AreaIndices {
    /// Every household given for the area, whatever its consent or review state.
    pub households_total: u64,
    /// Households with consent that the view includes: the indicators' population.
    pub households_counted: u64,
    /// Households without `consent.given = true`, among all of the area's households
    /// regardless of review state (the same in both views); never in a denominator.
    pub households_no_consent: u64,
    /// Households with consent left out by the approved view; always 0 in the all-surveyed one.
    pub households_not_approved: u64,
    /// Every member of the counted households, age unknown included.
    pub members_counted: u64,
    /// Counted members without a plausible birth year (missing, before 1900 or after the
    /// reference year): left out of every age band, still counted for household indicators
    /// and mentoring.
    pub members_age_unknown: u64,
    /// One per [`IndicatorKey`], in the order of [`IndicatorKey::ALL`].
    pub indicators: Vec<Indicator>,
}

impl AreaIndices {
    /// The indicator with this key.
    pub fn indicator(&self, key: IndicatorKey) -> Option<&Indicator> {
        self.indicators.iter().find(|i| i.key == key)
    }
}

/// The readiness summary of a commune and each of its hamlets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndexReport {
    pub reference_year: i64,
    pub view: View,
    pub commune: AreaIndices,
    /// By hamlet id: every hamlet that has at least one household among the inputs, even one
    /// with nothing counted (all its indicators then have no data).
    pub hamlets: BTreeMap<String, AreaIndices>,
}

/// Computes the indices of every hamlet in `inputs` and of the commune they make up.
pub fn compute<'a>(inputs: &[HouseholdInput<'a>], settings: &IndexSettings) -> IndexReport {
    let mut hamlets: BTreeMap<&str, Tally<'a>> = BTreeMap::new();
    for input in inputs {
        hamlets
            .entry(input.hamlet_id)
            .or_default()
            .add_household(input, settings);
    }
    // The commune is built from the hamlets, so its counts are their sums by construction.
    let mut commune = Tally::default();
    for tally in hamlets.values() {
        commune += tally;
    }
    IndexReport {
        reference_year: settings.reference_year,
        view: settings.view,
        commune: commune.area(&settings.targets),
        hamlets: hamlets
            .iter()
            .map(|(id, tally)| ((*id).to_owned(), tally.area(&settings.targets)))
            .collect(),
    }
}

/// Numerator, denominator and "not recorded" of one indicator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Count {
    numerator: u64,
    denominator: u64,
    not_recorded: u64,
}

impl Count {
    /// Adds one member or household of the denominator: `Some(true)` reached, `Some(false)` not
    /// reached, `None` not recorded (so not reached either).
    fn observe(&mut self, answer: Option<bool>) {
        self.denominator += 1;
        match answer {
            Some(true) => self.numerator += 1,
            Some(false) => {}
            None => self.not_recorded += 1,
        }
    }
}

impl AddAssign for Count {
    fn add_assign(&mut self, other: Count) {
        self.numerator += other.numerator;
        self.denominator += other.denominator;
        self.not_recorded += other.not_recorded;
    }
}

/// Raw counts of one area, before targets are applied.
#[derive(Debug, Default)]
struct Tally<'a> {
    households_total: u64,
    households_counted: u64,
    households_no_consent: u64,
    households_not_approved: u64,
    members_counted: u64,
    members_age_unknown: u64,
    identity_level1: u64,
    /// Indexed by `IndicatorKey as usize`; the mentoring slot stays empty (see `mentees`).
    counts: [Count; IndicatorKey::ALL.len()],
    /// Mentees per ambassador id, counted members of any age.
    mentees: BTreeMap<&'a str, u64>,
}

impl<'a> Tally<'a> {
    fn count(&mut self, key: IndicatorKey) -> &mut Count {
        &mut self.counts[key as usize]
    }

    fn add_household(&mut self, input: &HouseholdInput<'a>, settings: &IndexSettings) {
        self.households_total += 1;
        let household = input.household;
        if !household.consent_given() {
            self.households_no_consent += 1;
            return;
        }
        if !settings.view.includes(input.approved) {
            self.households_not_approved += 1;
            return;
        }
        self.households_counted += 1;
        let owns_smartphone = |m: &Member| m.smartphone.map(|s| s == Smartphone::Own);
        self.count(IndicatorKey::SmartphoneHouseholds)
            .observe(household_answer(household, owns_smartphone));
        self.count(IndicatorKey::DigitalHousehold)
            .observe(household_answer(household, skills_answer));
        for member in household.members.values() {
            self.add_member(member, settings.reference_year);
        }
    }

    fn add_member(&mut self, member: &'a Member, reference_year: i64) {
        self.members_counted += 1;
        // An empty id names nobody: it would otherwise make up an ambassador.
        if let Some(mentor) = member
            .mentor_id
            .as_deref()
            .filter(|id| !id.trim().is_empty())
        {
            *self.mentees.entry(mentor).or_default() += 1;
        }
        let Some(age) = member.age(reference_year) else {
            self.members_age_unknown += 1;
            return;
        };
        if age >= IDENTITY_AGE {
            self.count(IndicatorKey::DigitalIdentity)
                .observe(member.vneid.map(|v| v == Vneid::Level2));
            if member.vneid == Some(Vneid::Level1) {
                self.identity_level1 += 1;
            }
            let has_account = member
                .payment_account
                .map(|p| matches!(p, PaymentAccount::Bank | PaymentAccount::Ewallet));
            self.count(IndicatorKey::PaymentAccount)
                .observe(has_account);
        }
        if age >= ADULT_AGE {
            self.count(IndicatorKey::SmartphonePeople)
                .observe(member.smartphone.map(|s| s == Smartphone::Own));
            self.count(IndicatorKey::BasicSkills)
                .observe(skills_answer(member));
            self.count(IndicatorKey::VneidConfirmed)
                .observe(member.vneid_course_confirmed);
        }
    }

    /// Mentoring counts ambassadors, not members: computed from the mentees of this area.
    fn mentoring(&self) -> Count {
        let reached = self
            .mentees
            .values()
            .filter(|&&n| n >= MENTEES_PER_AMBASSADOR)
            .count();
        Count {
            numerator: reached as u64,
            denominator: self.mentees.len() as u64,
            // A missing mentorId cannot be told from "no mentor", so nothing is "not recorded".
            not_recorded: 0,
        }
    }

    fn area(&self, targets: &Targets) -> AreaIndices {
        let indicators = IndicatorKey::ALL
            .into_iter()
            .map(|key| {
                let count = match key {
                    IndicatorKey::Mentoring => self.mentoring(),
                    _ => self.counts[key as usize],
                };
                let level1 = (key == IndicatorKey::DigitalIdentity).then_some(self.identity_level1);
                Indicator::new(key, count, targets.get(key), level1)
            })
            .collect();
        AreaIndices {
            households_total: self.households_total,
            households_counted: self.households_counted,
            households_no_consent: self.households_no_consent,
            households_not_approved: self.households_not_approved,
            members_counted: self.members_counted,
            members_age_unknown: self.members_age_unknown,
            indicators,
        }
    }
}

impl<'a> AddAssign<&Tally<'a>> for Tally<'a> {
    fn add_assign(&mut self, other: &Tally<'a>) {
        self.households_total += other.households_total;
        self.households_counted += other.households_counted;
        self.households_no_consent += other.households_no_consent;
        self.households_not_approved += other.households_not_approved;
        self.members_counted += other.members_counted;
        self.members_age_unknown += other.members_age_unknown;
        self.identity_level1 += other.identity_level1;
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine += theirs;
        }
        // Summed per ambassador, so one guiding 3 people in each of two hamlets has 6 here.
        for (mentor, n) in &other.mentees {
            *self.mentees.entry(mentor).or_default() += n;
        }
    }
}

/// A member's five skills as one answer: all true is reached; otherwise any skill not recorded
/// makes it "not recorded" ([`Member::skills_incomplete`]), even beside a false one, because the
/// volunteer did not finish the question.
fn skills_answer(member: &Member) -> Option<bool> {
    if member.has_all_skills() {
        Some(true)
    } else if member.skills_incomplete() {
        None
    } else {
        Some(false)
    }
}

/// A household-level answer from its members' answers: reached when one member is; otherwise
/// "not recorded" when any member's answer is missing, or when no member was recorded at all
/// (nobody was seen, so no "no" can be claimed); otherwise not reached.
fn household_answer(
    household: &Household,
    answer: impl Fn(&Member) -> Option<bool>,
) -> Option<bool> {
    let answers: Vec<Option<bool>> = household.members.values().map(answer).collect();
    if answers.contains(&Some(true)) {
        Some(true)
    } else if answers.is_empty() || answers.contains(&None) {
        None
    } else {
        Some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Consent, Skills};

    const YEAR: i64 = 2025;

    fn all_skills() -> Skills {
        Skills {
            public_services: Some(true),
            online_shopping: Some(true),
            online_payment: Some(true),
            safety: Some(true),
            other_platform: Some(true),
        }
    }

    fn household(consent: Option<bool>, members: Vec<(&str, Member)>) -> Household {
        Household {
            consent: Some(Consent {
                given: consent,
                ..Default::default()
            }),
            members: members
                .into_iter()
                .map(|(id, m)| (id.to_owned(), m))
                .collect(),
            ..Default::default()
        }
    }

    fn mentee(mentor: &str) -> Option<String> {
        Some(mentor.to_owned())
    }

    /// A fully reached adult of the given birth year.
    fn champion(birth_year: i64, mentor: Option<String>) -> Member {
        Member {
            birth_year: Some(birth_year),
            vneid: Some(Vneid::Level2),
            payment_account: Some(PaymentAccount::Bank),
            smartphone: Some(Smartphone::Own),
            skills: Some(all_skills()),
            vneid_course_confirmed: Some(true),
            mentor_id: mentor,
            ..Default::default()
        }
    }

    /// The main fixture, reference year 2025. Hamlet h1:
    /// - h1a (approved, consent): m1 1990 (35) all reached, mentor A; m2 2009 (16) level 1,
    ///   payment not recorded, shared phone, skills not recorded, mentor A; m3 2010 (15) all
    ///   reached but too young for every band, mentor A; m4 2007 (18) vneid not recorded,
    ///   e-wallet, smartphone not recorded, four skills true and one not recorded, not
    ///   confirmed, mentor B; m5 2008 (17) level 2, payment none, owns a phone, mentor A.
    /// - h1b (approved, consent): m6 no birth year, owns a phone, all skills, mentor A; m7 born
    ///   2030 (future: age unknown), level 2, mentor B; m8 1960 (65) level 2, bank, shared phone,
    ///   one skill false (all recorded), confirmation not recorded.
    /// - h1c (approved, consent false), h1e (not approved, consent not recorded): no consent.
    /// - h1d (not approved, consent): m9 1985 (40) all reached, mentor B.
    ///
    /// Hamlet h2: h2a (approved, consent) with no members; h2b (approved, consent): m10 2000 (25)
    /// registered, payment not recorded, no phone, five skills false, not confirmed, mentor B;
    /// m11 1995 (30) all reached, mentor B.
    ///
    /// Hamlet h3: h3a (approved, consent false) only.
    fn fixture() -> Vec<(&'static str, bool, Household)> {
        let (a, b) = ("amb-a", "amb-b");
        let partial = Skills {
            other_platform: None,
            ..all_skills()
        };
        let one_false = Skills {
            safety: Some(false),
            ..all_skills()
        };
        let none_true = Skills {
            public_services: Some(false),
            online_shopping: Some(false),
            online_payment: Some(false),
            safety: Some(false),
            other_platform: Some(false),
        };
        let h1a = household(
            Some(true),
            vec![
                ("m1", champion(1990, mentee(a))),
                (
                    "m2",
                    Member {
                        birth_year: Some(2009),
                        vneid: Some(Vneid::Level1),
                        smartphone: Some(Smartphone::Shared),
                        mentor_id: mentee(a),
                        ..Default::default()
                    },
                ),
                ("m3", champion(2010, mentee(a))),
                (
                    "m4",
                    Member {
                        birth_year: Some(2007),
                        payment_account: Some(PaymentAccount::Ewallet),
                        skills: Some(partial),
                        vneid_course_confirmed: Some(false),
                        mentor_id: mentee(b),
                        ..Default::default()
                    },
                ),
                (
                    "m5",
                    Member {
                        birth_year: Some(2008),
                        vneid: Some(Vneid::Level2),
                        payment_account: Some(PaymentAccount::None),
                        smartphone: Some(Smartphone::Own),
                        mentor_id: mentee(a),
                        ..Default::default()
                    },
                ),
            ],
        );
        let h1b = household(
            Some(true),
            vec![
                (
                    "m6",
                    Member {
                        smartphone: Some(Smartphone::Own),
                        skills: Some(all_skills()),
                        mentor_id: mentee(a),
                        ..Default::default()
                    },
                ),
                (
                    "m7",
                    Member {
                        birth_year: Some(2030),
                        vneid: Some(Vneid::Level2),
                        mentor_id: mentee(b),
                        ..Default::default()
                    },
                ),
                (
                    "m8",
                    Member {
                        birth_year: Some(1960),
                        vneid: Some(Vneid::Level2),
                        payment_account: Some(PaymentAccount::Bank),
                        smartphone: Some(Smartphone::Shared),
                        skills: Some(one_false),
                        ..Default::default()
                    },
                ),
            ],
        );
        let no_consent = household(Some(false), vec![("x1", champion(1980, mentee(a)))]);
        let unknown_consent = household(None, vec![("x2", champion(1981, mentee(a)))]);
        let h1d = household(Some(true), vec![("m9", champion(1985, mentee(b)))]);
        let h2a = household(Some(true), vec![]);
        let h2b = household(
            Some(true),
            vec![
                (
                    "m10",
                    Member {
                        birth_year: Some(2000),
                        vneid: Some(Vneid::Registered),
                        smartphone: Some(Smartphone::None),
                        skills: Some(none_true),
                        vneid_course_confirmed: Some(false),
                        mentor_id: mentee(b),
                        ..Default::default()
                    },
                ),
                ("m11", champion(1995, mentee(b))),
            ],
        );
        vec![
            ("h1", true, h1a),
            ("h1", true, h1b),
            ("h1", true, no_consent.clone()),
            ("h1", false, h1d),
            ("h1", false, unknown_consent),
            ("h2", true, h2a),
            ("h2", true, h2b),
            ("h3", true, no_consent),
        ]
    }

    fn run(fixture: &[(&'static str, bool, Household)], view: View) -> IndexReport {
        let inputs: Vec<HouseholdInput<'_>> = fixture
            .iter()
            .map(|(hamlet_id, approved, household)| HouseholdInput {
                hamlet_id,
                approved: *approved,
                household,
            })
            .collect();
        let settings = IndexSettings {
            view,
            ..IndexSettings::new(YEAR)
        };
        compute(&inputs, &settings)
    }

    fn get(area: &AreaIndices, key: IndicatorKey) -> &Indicator {
        area.indicator(key).expect("every indicator is present")
    }

    /// (numerator, denominator, not recorded) of every indicator, in report order.
    fn counts(area: &AreaIndices) -> Vec<(u64, u64, u64)> {
        area.indicators
            .iter()
            .map(|i| (i.numerator, i.denominator, i.not_recorded))
            .collect()
    }

    fn close(actual: Option<f64>, expected: f64) -> bool {
        actual.is_some_and(|a| (a - expected).abs() < 1e-9)
    }

    #[test]
    fn hamlet_one_approved_view() {
        let report = run(&fixture(), View::Approved);
        let h1 = &report.hamlets["h1"];
        // h1a..h1e = 5; counted h1a, h1b; no consent h1c (false), h1e (not recorded, and not
        // approved: no consent wins); consent but not approved h1d.
        assert_eq!(h1.households_total, 5);
        assert_eq!(h1.households_counted, 2);
        assert_eq!(h1.households_no_consent, 2);
        assert_eq!(h1.households_not_approved, 1);
        // h1a 5 + h1b 3 members; m6 (no year) and m7 (2030) age unknown.
        assert_eq!(h1.members_counted, 8);
        assert_eq!(h1.members_age_unknown, 2);
        assert_eq!(
            counts(h1),
            vec![
                // 16+: m1 35, m2 16, m4 18, m5 17, m8 65 (m3 is 15). Level 2: m1, m5, m8;
                // m4 not recorded.
                (3, 5, 1),
                // Bank/e-wallet: m1, m4, m8; m5 has none; m2 not recorded.
                (3, 5, 1),
                // 18+: m1, m4, m8 (m5 is 17). Own phone: m1; m8 shared; m4 not recorded.
                (1, 3, 1),
                // Households: h1a (m1 owns), h1b (m6 owns, age unknown still counts).
                (2, 2, 0),
                // 18+ all skills: m1; m8 has a false; m4 has one not recorded.
                (1, 3, 1),
                // 18+ confirmed: m1; m4 false; m8 not recorded.
                (1, 3, 1),
                // Households: h1a (m1, also m3), h1b (m6).
                (2, 2, 0),
                // A: m1, m2, m3, m5, m6 = 5 (reached); B: m4, m7 = 2.
                (1, 2, 0),
            ]
        );
        // m2 is the one 16+ member at level 1.
        assert_eq!(get(h1, IndicatorKey::DigitalIdentity).level1, Some(1));
        assert_eq!(get(h1, IndicatorKey::PaymentAccount).level1, None);
    }

    #[test]
    fn hamlet_two_and_commune_approved_view() {
        let report = run(&fixture(), View::Approved);
        let h2 = &report.hamlets["h2"];
        assert_eq!(
            (
                h2.households_total,
                h2.households_counted,
                h2.members_counted
            ),
            (2, 2, 2)
        );
        assert_eq!(
            counts(h2),
            vec![
                (1, 2, 0), // m11 level 2, m10 registered
                (1, 2, 1), // m11 bank, m10 not recorded
                (1, 2, 0), // m11 owns, m10 has none
                (1, 2, 1), // h2b via m11; h2a has no members: not recorded
                (1, 2, 0), // m11; m10 all five false
                (1, 2, 0), // m11; m10 false
                (1, 2, 1), // h2b via m11; h2a not recorded
                (0, 1, 0), // B has m10, m11 here: 2
            ]
        );

        let c = &report.commune;
        // h1 5 + h2 2 + h3 1; counted 2 + 2; no consent 2 + 0 + 1; members 8 + 2.
        assert_eq!(
            (
                c.households_total,
                c.households_counted,
                c.households_no_consent,
                c.households_not_approved,
                c.members_counted,
                c.members_age_unknown
            ),
            (8, 4, 3, 1, 10, 2)
        );
        assert_eq!(
            counts(c),
            vec![
                (4, 7, 1),
                (4, 7, 2),
                (2, 5, 1),
                (3, 4, 1),
                (2, 5, 1),
                (2, 5, 1),
                (3, 4, 1),
                // A: 5 (all in h1); B: m4, m7 in h1 + m10, m11 in h2 = 4 (exactly 4: not reached).
                (1, 2, 0),
            ]
        );
        let identity = get(c, IndicatorKey::DigitalIdentity);
        // 4/7 = 57.142857…%; target 100 → gap 42.857…, missing ⌈7⌉ − 4 = 3.
        assert!(close(identity.percent, 400.0 / 7.0));
        assert!(close(identity.gap, 100.0 - 400.0 / 7.0));
        assert_eq!(identity.missing, Some(3));
        let skills = get(c, IndicatorKey::BasicSkills);
        // 2/5 = 40 %; target 80 → gap 40, missing ⌈0.8 × 5⌉ − 2 = 2.
        assert_eq!(
            (skills.percent, skills.gap, skills.missing),
            (Some(40.0), Some(40.0), Some(2))
        );
        let mentoring = get(c, IndicatorKey::Mentoring);
        // 1/2 = 50 %; target 100 → gap 50, missing 1.
        assert_eq!(
            (mentoring.percent, mentoring.gap, mentoring.missing),
            (Some(50.0), Some(50.0), Some(1))
        );
        let phones = get(c, IndicatorKey::SmartphoneHouseholds);
        // 3/4 = 75 %, no target in the plan: no gap, nothing missing.
        assert_eq!(
            (phones.percent, phones.target, phones.gap, phones.missing),
            (Some(75.0), None, None, None)
        );
    }

    #[test]
    fn hamlet_with_nothing_counted_has_no_data() {
        let report = run(&fixture(), View::Approved);
        let h3 = &report.hamlets["h3"];
        assert_eq!(
            (
                h3.households_total,
                h3.households_counted,
                h3.households_no_consent
            ),
            (1, 0, 1)
        );
        for indicator in &h3.indicators {
            assert_eq!((indicator.numerator, indicator.denominator), (0, 0));
            assert_eq!(
                (indicator.percent, indicator.gap, indicator.missing),
                (None, None, None)
            );
        }
        // The target is still shown beside "no data".
        assert_eq!(get(h3, IndicatorKey::BasicSkills).target, Some(80.0));
    }

    #[test]
    fn all_surveyed_view_adds_unapproved_households_only() {
        let approved = run(&fixture(), View::Approved);
        let all = run(&fixture(), View::AllSurveyed);
        assert_eq!(all.view, View::AllSurveyed);
        let (h1, c) = (&all.hamlets["h1"], &all.commune);
        // h1d joins; h1e still has no consent, whatever its review state.
        assert_eq!(
            (
                h1.households_counted,
                h1.households_no_consent,
                h1.households_not_approved
            ),
            (3, 2, 0)
        );
        assert_eq!(
            (
                c.households_counted,
                c.households_no_consent,
                c.members_counted
            ),
            (5, 3, 11)
        );
        // m9 (40) is reached on every person indicator: 16+ 5 → 6, 18+ 3 → 4.
        assert_eq!(counts(h1)[0], (4, 6, 1));
        assert_eq!(counts(h1)[4], (2, 4, 1));
        // B now has m4, m7, m9 in h1 (3, below 5) and m10, m11 in h2: 5 in the commune.
        assert_eq!(counts(h1)[7], (1, 2, 0));
        assert_eq!(counts(c)[7], (2, 2, 0));
        assert_eq!(get(c, IndicatorKey::Mentoring).missing, Some(0));
        assert_eq!(get(c, IndicatorKey::Mentoring).gap, Some(0.0));
        assert_ne!(approved.commune, all.commune);
        assert_eq!(approved.hamlets["h2"], all.hamlets["h2"]);
    }

    #[test]
    fn commune_is_the_sum_of_its_hamlets() {
        for view in [View::Approved, View::AllSurveyed] {
            let report = run(&fixture(), view);
            let sum = |f: &dyn Fn(&AreaIndices) -> u64| report.hamlets.values().map(f).sum::<u64>();
            let c = &report.commune;
            assert_eq!(c.households_total, sum(&|a| a.households_total));
            assert_eq!(c.households_counted, sum(&|a| a.households_counted));
            assert_eq!(c.households_no_consent, sum(&|a| a.households_no_consent));
            assert_eq!(
                c.households_not_approved,
                sum(&|a| a.households_not_approved)
            );
            assert_eq!(c.members_counted, sum(&|a| a.members_counted));
            assert_eq!(c.members_age_unknown, sum(&|a| a.members_age_unknown));
            let level1 =
                |a: &AreaIndices| get(a, IndicatorKey::DigitalIdentity).level1.unwrap_or(0);
            assert_eq!(level1(c), sum(&level1));
            for key in IndicatorKey::ALL
                .into_iter()
                .filter(|k| *k != IndicatorKey::Mentoring)
            {
                let (n, d, r) = (
                    sum(&|a| get(a, key).numerator),
                    sum(&|a| get(a, key).denominator),
                    sum(&|a| get(a, key).not_recorded),
                );
                let i = get(c, key);
                assert_eq!(
                    (i.numerator, i.denominator, i.not_recorded),
                    (n, d, r),
                    "{key:?}"
                );
            }
        }
        // Mentoring is the documented exception: B guides people in h1 and in h2, so it is one
        // ambassador of the commune but one per hamlet (1 + 1 + 0 in h3 = 3 hamlet denominators
        // with A, against 2 for the commune).
        let report = run(&fixture(), View::Approved);
        let hamlet_ambassadors: u64 = report
            .hamlets
            .values()
            .map(|a| get(a, IndicatorKey::Mentoring).denominator)
            .sum();
        assert_eq!(hamlet_ambassadors, 3);
        assert_eq!(get(&report.commune, IndicatorKey::Mentoring).denominator, 2);
    }

    #[test]
    fn age_band_edges() {
        // Born 2010 is 15 and 2009 is 16 in 2025; 2008 is 17 and 2007 is 18. All are reached.
        let members = ["a", "b", "c", "d"]
            .into_iter()
            .zip([2010, 2009, 2008, 2007])
            .map(|(id, year)| (id, champion(year, None)))
            .collect();
        let h = household(Some(true), members);
        let report = run(&[("h", true, h)], View::Approved);
        let c = &report.commune;
        assert_eq!(c.members_age_unknown, 0);
        // 16+: 2009, 2008, 2007.
        assert_eq!(counts(c)[0], (3, 3, 0));
        assert_eq!(counts(c)[1], (3, 3, 0));
        // 18+: 2007 only.
        assert_eq!(counts(c)[2], (1, 1, 0));
        assert_eq!(counts(c)[4], (1, 1, 0));
        assert_eq!(counts(c)[5], (1, 1, 0));
    }

    #[test]
    fn missing_is_computed_in_integers() {
        // 7 adults, 5 with all skills: 71.43 % of a target of 80 %; 0.8 × 7 = 5.6 → 6 needed,
        // 1 missing; gap 80 − 500/7 = 8.571… points.
        let members: Vec<(String, Member)> = (0..7)
            .map(|i| {
                let skills = (i < 5).then(all_skills);
                (
                    format!("m{i}"),
                    Member {
                        birth_year: Some(1980),
                        skills,
                        ..Default::default()
                    },
                )
            })
            .collect();
        let h = household(
            Some(true),
            members
                .iter()
                .map(|(id, m)| (id.as_str(), m.clone()))
                .collect(),
        );
        let report = run(&[("h", true, h)], View::Approved);
        let skills = get(&report.commune, IndicatorKey::BasicSkills);
        assert_eq!(
            (skills.numerator, skills.denominator, skills.not_recorded),
            (5, 7, 2)
        );
        assert_eq!(skills.missing, Some(1));
        assert!(close(skills.gap, 80.0 - 500.0 / 7.0));

        // 7 % of 100 in floating point is 7.000000000000001, whose ceiling would be 8.
        assert_eq!(still_needed(7.0, 0, 100), 7);
        assert_eq!(still_needed(80.0, 4, 5), 0);
        assert_eq!(still_needed(80.0, 5, 7), 1);
        assert_eq!(still_needed(100.0, 9, 7), 0);
        assert_eq!(still_needed(0.0, 0, 7), 0);
        // 33.33 % of 3 is 0.9999 → 1.
        assert_eq!(still_needed(33.33, 0, 3), 1);
    }

    #[test]
    fn empty_mentor_id_is_nobody() {
        let h = household(
            Some(true),
            vec![(
                "a",
                Member {
                    mentor_id: Some(" ".into()),
                    ..Default::default()
                },
            )],
        );
        let report = run(&[("h", true, h)], View::Approved);
        assert_eq!(counts(&report.commune)[7], (0, 0, 0));
    }

    #[test]
    fn targets_are_validated() {
        assert_eq!(Targets::plan_default().validate(), Ok(()));
        assert_eq!(Targets::default().validate(), Ok(()));
        let edges = Targets {
            basic_skills: Some(0.0),
            mentoring: Some(100.0),
            ..Targets::default()
        };
        assert_eq!(edges.validate(), Ok(()));
        let too_high = Targets {
            basic_skills: Some(101.0),
            ..Targets::plan_default()
        };
        let err = too_high.validate().expect_err("101 is rejected");
        assert_eq!(
            (err.field, err.key, err.value),
            ("basicSkills", IndicatorKey::BasicSkills, 101.0)
        );
        assert!(err.to_string().contains("basicSkills"));
        let negative = Targets {
            smartphone_households: Some(-1.0),
            ..Targets::plan_default()
        };
        let err = negative.validate().expect_err("-1 is rejected");
        assert_eq!(err.field, "smartphoneHouseholds");
        let nan = Targets {
            mentoring: Some(f64::NAN),
            ..Targets::default()
        };
        assert!(nan.validate().is_err());
    }

    #[test]
    fn invalid_target_is_ignored_by_compute() {
        let h = household(Some(true), vec![("a", champion(1990, None))]);
        let inputs = [HouseholdInput {
            hamlet_id: "h",
            approved: true,
            household: &h,
        }];
        let mut settings = IndexSettings::new(YEAR);
        settings.targets.basic_skills = Some(150.0);
        let report = compute(&inputs, &settings);
        let skills = get(&report.commune, IndicatorKey::BasicSkills);
        assert_eq!(
            (skills.target, skills.gap, skills.missing),
            (None, None, None)
        );
    }

    #[test]
    fn wire_format() {
        let report = run(&fixture(), View::AllSurveyed);
        let json = serde_json::to_value(&report).expect("serialises");
        assert_eq!(json["view"], "all-surveyed");
        assert_eq!(json["referenceYear"], 2025);
        let first = &json["commune"]["indicators"][0];
        assert_eq!(first["key"], "digital-identity");
        assert_eq!(first["labelVi"], "Danh tính số (mức 2)");
        assert_eq!(first["notRecorded"], 1);
        assert_eq!(first["level1"], 1);
        assert!(json["commune"]["indicators"][1].get("level1").is_none());
        let back: IndexReport = serde_json::from_value(json).expect("deserialises");
        assert_eq!(back.hamlets.len(), 3);
        for key in IndicatorKey::ALL {
            assert_eq!(serde_json::to_value(key).expect("key"), key.as_str());
        }
        let targets: Targets = serde_json::from_str(r#"{"basicSkills": 70}"#).expect("targets");
        assert_eq!(
            (targets.basic_skills, targets.digital_identity),
            (Some(70.0), None)
        );
    }
}
