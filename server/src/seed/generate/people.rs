//! Who the synthetic residents are: names, districts, profiles, civil and confirmation records.

use super::{CitySeed, Dice, SYNTHETIC_ISSUER, Vocabulary, copy_bytea, copy_field, identity_stream, records_of};
use serde_json::json;
use std::io::Write as _;
use time::{Date, Duration, OffsetDateTime, Time};
use uuid::Uuid;

/// A district as the generator needs it.
#[derive(Clone, Debug)]
pub struct District {
    pub district_id: String,
    pub name_en: String,
}

/// How many residents live in each of the first districts (in the map's order); the rest
/// share weight 10 each.
pub(super) const DISTRICT_WEIGHTS: [u32; 6] = [14, 16, 19, 22, 17, 12];

/// What a resident mostly does with their behavioral records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Commuter,
    Shopper,
    Balanced,
}

/// The parts of a resident the activity pass and the grants need.
#[derive(Clone, Debug)]
pub struct Persona {
    pub index: u32,
    pub resident_id: Uuid,
    pub district: usize,
    pub profile: Profile,
    pub over_65: bool,
    pub below_threshold: bool,
    pub owns_property: bool,
    pub has_calls: bool,
    pub records: u64,
}

pub(super) const SURNAMES: [(&str, &str); 24] = [
    ("王", "Wang"),
    ("李", "Li"),
    ("张", "Zhang"),
    ("刘", "Liu"),
    ("陈", "Chen"),
    ("杨", "Yang"),
    ("黄", "Huang"),
    ("赵", "Zhao"),
    ("吴", "Wu"),
    ("周", "Zhou"),
    ("徐", "Xu"),
    ("孙", "Sun"),
    ("马", "Ma"),
    ("朱", "Zhu"),
    ("胡", "Hu"),
    ("郭", "Guo"),
    ("何", "He"),
    ("林", "Lin"),
    ("罗", "Luo"),
    ("高", "Gao"),
    ("郑", "Zheng"),
    ("梁", "Liang"),
    ("谢", "Xie"),
    ("宋", "Song"),
];
pub(super) const GIVEN_NAMES: [(&str, &str); 24] = [
    ("伟", "Wei"),
    ("芳", "Fang"),
    ("娜", "Na"),
    ("秀英", "Xiuying"),
    ("敏", "Min"),
    ("静", "Jing"),
    ("丽", "Li"),
    ("强", "Qiang"),
    ("磊", "Lei"),
    ("军", "Jun"),
    ("洋", "Yang"),
    ("勇", "Yong"),
    ("艳", "Yan"),
    ("杰", "Jie"),
    ("娟", "Juan"),
    ("涛", "Tao"),
    ("明", "Ming"),
    ("超", "Chao"),
    ("秀兰", "Xiulan"),
    ("霞", "Xia"),
    ("浩然", "Haoran"),
    ("子涵", "Zihan"),
    ("雨桐", "Yutong"),
    ("思远", "Siyuan"),
];
pub(super) const OTHER_GIVEN: [&str; 12] =
    ["Maria", "David", "Anna", "James", "Sofia", "Lucas", "Emma", "Omar", "Priya", "Noah", "Elena", "Kenji"];
pub(super) const OTHER_SURNAMES: [&str; 12] =
    ["Santos", "Müller", "Kim", "Novak", "Okafor", "Rossi", "Tanaka", "Silva", "Haddad", "Brown", "Ivanova", "Patel"];
pub(super) const BANKS: [&str; 5] =
    ["City Commercial Bank", "Harbor Savings Bank", "Agricultural Bank", "Merchants Bank", "Postal Savings Bank"];
pub(super) const STREETS: [&str; 10] = [
    "Harbor Road",
    "Lotus Lane",
    "Ginkgo Avenue",
    "Bund Street",
    "Plum Blossom Road",
    "Station Road",
    "Willow Street",
    "Academy Road",
    "Granary Lane",
    "Lighthouse Road",
];

/// One resident's rows in the chunk's small tables, and their persona.
pub struct Small {
    pub accounts: Vec<u8>,
    pub residents: Vec<u8>,
    pub civil: Vec<u8>,
    pub confirmations: Vec<u8>,
    pub confirmation_count: u64,
}

impl Small {
    #[must_use]
    pub fn new() -> Self {
        Self {
            accounts: Vec::new(),
            residents: Vec::new(),
            civil: Vec::new(),
            confirmations: Vec::new(),
            confirmation_count: 0,
        }
    }
}

impl Default for Small {
    fn default() -> Self {
        Self::new()
    }
}

pub(super) fn midnight(d: Date) -> OffsetDateTime {
    d.with_time(Time::MIDNIGHT).assume_utc()
}

/// `YYYY-MM-DD HH:MM:SS+00` for COPY.
pub fn timestamp_text(t: OffsetDateTime) -> String {
    format!("{} {:02}:{:02}:{:02}+00", t.date(), t.hour(), t.minute(), t.second())
}

/// Generates resident `index`: account, resident, civil record and confirmation records go
/// into `small`; the returned persona drives their activity and grants.
///
/// # Panics
/// Never for a city built by [`Vocabulary::new`] (the dates stay within the calendar).
pub fn resident(
    city: &CitySeed,
    vocab: &Vocabulary,
    districts: &[District],
    residents: u32,
    records: u64,
    index: u32,
    small: &mut Small,
) -> Persona {
    let mut dice = city.dice(identity_stream(index));
    let account_id = dice.uuid();
    let resident_id = dice.uuid();
    let weights: Vec<u32> = (0..districts.len()).map(|d| DISTRICT_WEIGHTS.get(d).copied().unwrap_or(10)).collect();
    let district = dice.weighted(&weights);

    let (name, locale) = if dice.percent(85) {
        let (s_zh, s_en) = *dice.pick(&SURNAMES);
        let (g_zh, g_en) = *dice.pick(&GIVEN_NAMES);
        if dice.percent(75) { (format!("{s_zh}{g_zh}"), "zh-CN") } else { (format!("{g_en} {s_en}"), "en") }
    } else {
        (format!("{} {}", dice.pick(&OTHER_GIVEN), dice.pick(&OTHER_SURNAMES)), "en")
    };
    // account_id, issuer, subject, display_name, locale, roles
    let a = &mut small.accounts;
    write!(a, "{account_id}\t{SYNTHETIC_ISSUER}\tcitizen-{index:08}\t").expect("vec write");
    copy_field(a, &name);
    writeln!(a, "\t{locale}\t{{resident}}").expect("vec write");
    writeln!(small.residents, "{resident_id}\t{account_id}\t{}", districts[district].district_id).expect("vec write");

    // Ages 18-95, a fifth of them 65 or over.
    let age = match dice.weighted(&[20, 27, 31, 16, 6]) {
        0 => dice.between(18, 29),
        1 => dice.between(30, 44),
        2 => dice.between(45, 64),
        3 => dice.between(65, 79),
        _ => dice.between(80, 95),
    };
    let until = vocab.until;
    let birth = until.replace_year(until.year() - age as i32).unwrap_or_else(|_| until - Duration::days(365 * age))
        - Duration::days(dice.between(1, 364));
    // Income bands around the benefit threshold (¥36,000): some retired with none, a sixth
    // under the threshold, most between ¥36k and ¥200k; a few not on record.
    let income = match dice.weighted(&[7, 16, 36, 28, 10, 3]) {
        0 => Some(0),
        1 => Some(dice.between(300_000, crate::domain::records::BENEFIT_THRESHOLD_CENTS - 1)),
        2 => Some(dice.between(crate::domain::records::BENEFIT_THRESHOLD_CENTS, 8_000_000)),
        3 => Some(dice.between(8_000_001, 20_000_000)),
        4 => Some(dice.between(20_000_001, 60_000_000)),
        _ => None,
    };
    let over_65 = birth <= until.replace_year(until.year() - 65).unwrap_or(until);
    let below_threshold = income.is_some_and(|i| i < crate::domain::records::BENEFIT_THRESHOLD_CENTS);
    let income_text = income.map_or_else(|| "\\N".to_owned(), |i| i.to_string());
    writeln!(small.civil, "{resident_id}\t{birth}\t{income_text}").expect("vec write");

    let mut confirm = |dice: &mut Dice, scope: &str, data: serde_json::Value, at: OffsetDateTime| {
        let c = &mut small.confirmations;
        let hash = crate::domain::records::content_hash(&data);
        write!(c, "{}\t{resident_id}\t{scope}\t", dice.uuid()).expect("vec write");
        copy_field(c, &data.to_string());
        c.push(b'\t');
        copy_bytea(c, &hash);
        writeln!(c, "\t{}", timestamp_text(at)).expect("vec write");
        small.confirmation_count += 1;
    };
    // Bank accounts: one to three.
    for _ in 0..dice.between(1, 3) {
        let opened = until - Duration::days(dice.between(30, 365 * 20));
        let data = json!({
            "bank": dice.pick(&BANKS),
            "account": format!("6222 **** **** {:04}", dice.below(10_000)),
            "kind": *dice.pick(&["savings", "current", "savings"]),
            "opened": opened.to_string(),
        });
        confirm(&mut dice, "bank.accounts", data, midnight(opened));
    }
    // Property titles: about two in five own a home, a few two.
    let titles = match dice.below(100) {
        0..=34 => 1,
        35..=39 => 2,
        _ => 0,
    };
    for t in 0..titles {
        let registered = until - Duration::days(dice.between(60, 365 * 30));
        let data = json!({
            "address": format!("{} {}, flat {}", dice.between(1, 400), dice.pick(&STREETS), dice.between(101, 2808)),
            "district": districts[if t == 0 { district } else { dice.below(districts.len() as u64) as usize }].district_id,
            "area_m2": dice.between(38, 180),
            "share": if dice.percent(30) { json!(0.5) } else { json!(1) },
            "registered": registered.to_string(),
        });
        confirm(&mut dice, "property.titles", data, midnight(registered));
    }
    // Call records the carrier confirmed: none to five recent calls.
    let calls = dice.below(6);
    for _ in 0..calls {
        let at = midnight(until) - Duration::seconds(dice.between(60, 90 * 86_400));
        let data = json!({
            "at": crate::clock::rfc3339(at),
            "duration_s": dice.between(5, 3_600),
            "other_party": format!("+86 1{:02} **** {:04}", dice.between(30, 99), dice.below(10_000)),
            "direction": *dice.pick(&["outgoing", "incoming"]),
        });
        confirm(&mut dice, "telecom.call_records", data, at);
    }

    let profile = match dice.weighted(&[45, 25, 30]) {
        0 => Profile::Commuter,
        1 => Profile::Shopper,
        _ => Profile::Balanced,
    };
    Persona {
        index,
        resident_id,
        district,
        profile,
        over_65,
        below_threshold,
        owns_property: titles > 0,
        has_calls: calls > 0,
        records: records_of(city, residents, records, index),
    }
}

/// Splits a resident's records over the behavioral scopes: meter readings (monthly, at most
/// two meters for a year), a few service visits, and trips and shopping by profile.
#[must_use]
pub fn split(p: &Persona) -> [u64; 4] {
    let n = p.records;
    let readings = (n / 6).min(24);
    let logs = n * 3 / 100;
    let rest = n - readings - logs;
    let trip_share = match p.profile {
        Profile::Commuter => 75,
        Profile::Shopper => 35,
        Profile::Balanced => 55,
    };
    let trips = rest * trip_share / 100;
    [trips, rest - trips, readings, logs]
}
