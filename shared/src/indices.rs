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
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema,
)]
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
        // Multiplying first keeps exact cases exact (4 of 5 is 80.0, not 79.99…).
        let percent =
            (count.denominator > 0).then(|| 100.0 * count.numerator as f64 / count.denominator as f64);
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
    pub households_total: u64,
    pub households_counted: u64,
    pub households_no_consent: u64,
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
        if let Some(mentor) = member.mentor_id.as_deref().filter(|id| !id.trim().is_empty()) {
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
            self.count(IndicatorKey::PaymentAccount).observe(has_account);
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
                let level1 =
                    (key == IndicatorKey::DigitalIdentity).then_some(self.identity_level1);
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
fn household_answer(household: &Household, answer: impl Fn(&Member) -> Option<bool>) -> Option<bool> {
    let answers: Vec<Option<bool>> = household.members.values().map(answer).collect();
    if answers.contains(&Some(true)) {
        Some(true)
    } else if answers.is_empty() || answers.contains(&None) {
        None
    } else {
        Some(false)
    }
}
