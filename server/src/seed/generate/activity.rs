//! What the synthetic residents do: trips, purchases, meter readings, service visits.

use super::people::Profile;
use super::{CitySeed, District, HISTORY_DAYS, Persona, activity_stream, copy_field, fragment, pair_stream, split};
use std::io::Write as _;
use time::{Date, Duration};

/// Pre-escaped vocabulary of one city: names of stations and shops per district.
pub struct Vocabulary {
    /// (district, JSON fragment) per station.
    pub(super) stations: Vec<(usize, Vec<u8>)>,
    pub(super) shops: Vec<Vec<Vec<u8>>>,
    pub(super) facilities: Vec<(Vec<u8>, Vec<u8>)>,
    pub(super) days: Vec<(String, u8)>,
    pub(super) until: Date,
    pub(super) scopes: [Vec<u8>; 4],
}

pub(super) const SHOP_CHAINS: [(&str, &str, i64, i64); 8] = [
    ("FreshMart", "grocery", 1_500, 25_000),
    ("Green Basket", "grocery", 800, 12_000),
    ("Corner Store", "convenience", 300, 4_000),
    ("City Pharmacy", "pharmacy", 900, 18_000),
    ("Page & Leaf", "books", 2_500, 16_000),
    ("Noodle House", "restaurant", 1_800, 9_000),
    ("Volt Electronics", "electronics", 4_900, 300_000),
    ("Thread & Co", "clothing", 5_900, 80_000),
];
pub(super) const SHOP_WEIGHTS: [u32; 8] = [30, 20, 18, 8, 4, 14, 2, 4];

impl Vocabulary {
    /// # Panics
    /// When `districts` is empty.
    #[must_use]
    pub fn new(districts: &[District], until: Date) -> Self {
        assert!(!districts.is_empty(), "the city has no districts");
        let mut stations = Vec::new();
        for (d, district) in districts.iter().enumerate() {
            for suffix in ["", " North", " South"] {
                stations.push((d, fragment(&format!("{}{suffix}", district.name_en))));
            }
        }
        let shops = districts
            .iter()
            .map(|d| SHOP_CHAINS.iter().map(|(chain, ..)| fragment(&format!("{chain} {}", d.name_en))).collect())
            .collect();
        let facilities = districts
            .iter()
            .map(|d| {
                (
                    fragment(&format!("{}-library", d.district_id)),
                    fragment(&format!("{}-service-centre", d.district_id)),
                )
            })
            .collect();
        let days = (0..=HISTORY_DAYS + 1)
            .map(|back| {
                let day = until - Duration::days(back);
                (day.to_string(), day.weekday().number_from_monday())
            })
            .collect();
        let scopes = ["transit.trips", "shopping.receipts", "utilities.readings", "services.logs"].map(|s| {
            let mut v = Vec::new();
            copy_field(&mut v, s);
            v
        });
        Self { stations, shops, facilities, days, until, scopes }
    }

    #[must_use]
    pub fn until(&self) -> Date {
        self.until
    }
}

/// How many behavioral records resident `index` of `residents` gets, so that they sum to
/// `records` exactly: an even share, then each pair of residents moves up to half a share
/// from one to the other (some people travel and shop a lot more than others).
#[must_use]
pub fn records_of(city: &CitySeed, residents: u32, records: u64, index: u32) -> u64 {
    let n = u64::from(residents);
    let i = u64::from(index);
    let share = |i: u64| records * (i + 1) / n - records * i / n;
    let own = share(i);
    let partner = i ^ 1;
    if partner >= n {
        return own;
    }
    let (low, high) = (i & !1, i | 1);
    let room = share(low).min(share(high)) / 2;
    let moved = city.dice(pair_stream(index >> 1)).below(room + 1);
    if i == low { own + moved } else { own - moved }
}

/// Writes the resident's behavioral records (`resident_id, scope_key, occurred_at, data`) to
/// `out`, calling `flush` whenever `out` passes `flush_at` bytes.
pub fn activity<E>(
    city: &CitySeed,
    vocab: &Vocabulary,
    p: &Persona,
    out: &mut Vec<u8>,
    flush_at: usize,
    flush: &mut impl FnMut(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    let mut dice = city.dice(activity_stream(p.index));
    let id = p.resident_id.to_string();
    let [trips, receipts, readings, logs] = split(p);
    let home: Vec<usize> = (0..vocab.stations.len()).filter(|&s| vocab.stations[s].0 == p.district).collect();
    let home = home[dice.below(home.len() as u64) as usize];
    let work = dice.below(vocab.stations.len() as u64) as usize;
    let line = dice.between(1, 4);

    let row_start = |out: &mut Vec<u8>, scope: usize, back: i64, secs: i64| {
        out.extend_from_slice(id.as_bytes());
        out.push(b'\t');
        out.extend_from_slice(&vocab.scopes[scope]);
        let day = &vocab.days[back as usize].0;
        write!(out, "\t{day} {:02}:{:02}:{:02}+00\t", secs / 3600, secs / 60 % 60, secs % 60).expect("vec write");
    };

    for _ in 0..trips {
        let back = dice.between(1, HISTORY_DAYS);
        let weekday = vocab.days[back as usize].1 <= 5;
        let (from, to, secs) = if weekday && p.profile != Profile::Shopper && dice.percent(70) {
            if dice.percent(50) {
                (home, work, dice.between(7 * 3600, 9 * 3600 + 1800))
            } else {
                (work, home, dice.between(17 * 3600, 19 * 3600 + 1800))
            }
        } else {
            (home, dice.below(vocab.stations.len() as u64) as usize, dice.between(6 * 3600, 23 * 3600))
        };
        row_start(out, 0, back, secs);
        let hops = from.abs_diff(to) as i64;
        if dice.percent(80) {
            write!(out, "{{\"from\": ").expect("vec write");
            out.extend_from_slice(&vocab.stations[from].1);
            out.extend_from_slice(b", \"to\": ");
            out.extend_from_slice(&vocab.stations[to].1);
            writeln!(out, ", \"line\": \"M{line}\", \"fare_cents\": {}}}", (200 + 50 * hops).min(700))
                .expect("vec write");
        } else {
            write!(out, "{{\"from\": ").expect("vec write");
            out.extend_from_slice(&vocab.stations[from].1);
            out.extend_from_slice(b", \"to\": ");
            out.extend_from_slice(&vocab.stations[to].1);
            writeln!(out, ", \"line\": \"B{}\", \"fare_cents\": 200}}", 10 + dice.below(40)).expect("vec write");
        }
        if out.len() >= flush_at {
            flush(out)?;
        }
    }
    for _ in 0..receipts {
        let back = dice.between(1, HISTORY_DAYS);
        let shop = dice.weighted(&SHOP_WEIGHTS);
        let (_, category, lo, hi) = SHOP_CHAINS[shop];
        let near = if dice.percent(80) { p.district } else { dice.below(vocab.shops.len() as u64) as usize };
        row_start(out, 1, back, dice.between(9 * 3600, 22 * 3600 - 1));
        out.extend_from_slice(b"{\"shop\": ");
        out.extend_from_slice(&vocab.shops[near][shop]);
        writeln!(
            out,
            ", \"category\": \"{category}\", \"items\": {}, \"total_cents\": {}}}",
            dice.between(1, 12),
            dice.between(lo, hi)
        )
        .expect("vec write");
        if out.len() >= flush_at {
            flush(out)?;
        }
    }
    let kwh = dice.between(90, 380);
    let m3 = dice.between(4, 18);
    for r in 0..readings {
        let month = (r / 2) as i64;
        let back = 1 + 30 * month + dice.below(3) as i64;
        row_start(out, 2, back, dice.between(0, 86_399));
        // Summer and winter months use more electricity.
        let season = match vocab.days[back as usize].0.get(5..7) {
            Some("07" | "08" | "12" | "01") => 60,
            Some("06" | "09" | "02") => 25,
            _ => 0,
        };
        if r % 2 == 0 {
            writeln!(out, "{{\"meter\": \"electricity\", \"kwh\": {}}}", kwh + season + dice.between(-15, 15))
                .expect("vec write");
        } else {
            writeln!(out, "{{\"meter\": \"water\", \"m3\": {}}}", m3 + dice.between(-2, 2)).expect("vec write");
        }
        if out.len() >= flush_at {
            flush(out)?;
        }
    }
    for _ in 0..logs {
        let back = dice.between(1, HISTORY_DAYS);
        row_start(out, 3, back, dice.between(9 * 3600, 18 * 3600 - 1));
        let (library, centre) = &vocab.facilities[p.district];
        match dice.below(4) {
            0 | 1 => {
                out.extend_from_slice(b"{\"service\": \"library\", \"action\": \"loan\", \"facility\": ");
                out.extend_from_slice(library);
                out.extend_from_slice(b"}\n");
            }
            2 => {
                out.extend_from_slice(b"{\"service\": \"citizen-service\", \"action\": \"visit\", \"facility\": ");
                out.extend_from_slice(centre);
                out.extend_from_slice(b"}\n");
            }
            _ => out.extend_from_slice(b"{\"service\": \"waste\", \"action\": \"bulky-pickup\"}\n"),
        }
        if out.len() >= flush_at {
            flush(out)?;
        }
    }
    Ok(())
}
