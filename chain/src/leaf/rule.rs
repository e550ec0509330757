//! Linkage rules (`rule.granted`, `rule.fired`): a resident lets one device act on another's
//! readings ("when my leak sensor reports a leak, close my valve"). A rule is a grant from one
//! device to another: its id lives in the grant-id space and its status in the status map as a
//! [`crate::GrantStatus`], so it is pending until a quorum checkpoint covers it, active until
//! its `valid_until`, and stopped by a `grant.revoked` entry naming its id, exactly like a
//! resident's grant to a service. Each action the rule causes is a `rule.fired` receipt naming
//! the checkpoint the rule was verified against just before the action.
//!
//! The condition is evaluated by [`Rule::matches`], here in the chain crate, so that any
//! platform can recompute whether a reading should have fired a rule.

use serde::{Deserialize, Serialize};

use super::codec::{R, W, check_scope};
use super::{CheckpointRef, DeviceId, GrantId, Pseudonym};
use crate::error::{Error, Result};
use crate::hash::Hash;

/// Longest metric or command name, in bytes (same alphabet as a scope name).
pub const MAX_RULE_NAME: usize = 64;
/// Minutes in a day: a window's bounds are below it.
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// How a reading's value is compared with the rule's threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Comparison {
    #[serde(rename = "<")]
    Below,
    #[serde(rename = "<=")]
    AtMost,
    #[serde(rename = "==")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = ">")]
    Above,
}

impl Comparison {
    /// Every comparison, in the order forms list them.
    pub const ALL: [Self; 6] = [Self::Equal, Self::NotEqual, Self::Above, Self::AtLeast, Self::Below, Self::AtMost];

    /// The comparison's byte in leaves.
    #[must_use]
    pub const fn byte(self) -> u8 {
        match self {
            Self::Below => 0x01,
            Self::AtMost => 0x02,
            Self::Equal => 0x03,
            Self::NotEqual => 0x04,
            Self::AtLeast => 0x05,
            Self::Above => 0x06,
        }
    }

    /// The inverse of [`Self::byte`].
    #[must_use]
    pub fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.byte() == b)
    }

    /// The operator as written: `<`, `<=`, `==`, `!=`, `>=`, `>`.
    #[must_use]
    pub const fn symbol(self) -> &'static str {
        match self {
            Self::Below => "<",
            Self::AtMost => "<=",
            Self::Equal => "==",
            Self::NotEqual => "!=",
            Self::AtLeast => ">=",
            Self::Above => ">",
        }
    }

    /// The inverse of [`Self::symbol`].
    #[must_use]
    pub fn from_symbol(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.symbol() == s)
    }

    /// Whether `value` compares so with `threshold`.
    #[must_use]
    pub const fn holds(self, value: i64, threshold: i64) -> bool {
        match self {
            Self::Below => value < threshold,
            Self::AtMost => value <= threshold,
            Self::Equal => value == threshold,
            Self::NotEqual => value != threshold,
            Self::AtLeast => value >= threshold,
            Self::Above => value > threshold,
        }
    }
}

/// The hours of the day a rule may act, in the city's local time: from `start` (inclusive) to
/// `end` (exclusive), minutes after local midnight. A window with `start > end` spans midnight
/// (23:00 to 06:00).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayWindow {
    /// Minutes after local midnight, below 1440.
    pub start: u16,
    /// Minutes after local midnight, below 1440, not equal to `start`.
    pub end: u16,
    /// The local time's offset from UTC, in minutes (Beijing: 480).
    pub utc_offset_minutes: i16,
}

impl DayWindow {
    /// Whether the Unix time `at` falls in the window.
    #[must_use]
    pub fn contains(&self, at: u64) -> bool {
        let local = i128::from(at) + i128::from(self.utc_offset_minutes) * 60;
        let minute = u16::try_from(local.rem_euclid(86_400) / 60).unwrap_or(0);
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.start >= MINUTES_PER_DAY || self.end >= MINUTES_PER_DAY {
            return Err(format!("a window's bounds are minutes below {MINUTES_PER_DAY}"));
        }
        if self.start == self.end {
            return Err("a window's start and end must differ (leave the window out for all day)".into());
        }
        if !(-14 * 60..=14 * 60).contains(&self.utc_offset_minutes) {
            return Err("a window's UTC offset is at most 14 hours either way".into());
        }
        Ok(())
    }
}

/// A linkage rule as `rule.granted` publishes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The rule's id, in the grant-id space: its status-map key is its grant key.
    pub rule_id: GrantId,
    /// The resident's pseudonym at the city's device registry (the passports' owner).
    pub owner: Pseudonym,
    /// The device whose readings trigger the rule.
    pub trigger: DeviceId,
    /// The trigger's metric the condition reads, e.g. `leak`.
    pub metric: String,
    /// How the reading's value is compared.
    pub comparison: Comparison,
    /// What it is compared with, in the metric's unit.
    pub threshold: i64,
    /// The device that acts.
    pub action_device: DeviceId,
    /// What it is told to do, e.g. `close`.
    pub command: String,
    /// Whether the resident is told each time the rule fires.
    pub notify: bool,
    /// The hours it may act; `None`: all day.
    pub window: Option<DayWindow>,
    /// Start of validity (inclusive).
    pub valid_from: u64,
    /// End of validity (exclusive).
    pub valid_until: u64,
}

impl Rule {
    /// Whether a reading of the trigger (`metric`, `value`, measured at `at`) fires the rule,
    /// the rule being in force: the metric is the rule's, the comparison holds, `at` is within
    /// validity and in the window.
    #[must_use]
    pub fn matches(&self, metric: &str, value: i64, at: u64) -> bool {
        metric == self.metric
            && self.comparison.holds(value, self.threshold)
            && (self.valid_from..self.valid_until).contains(&at)
            && self.window.is_none_or(|w| w.contains(at))
    }

    pub(super) fn encode_fields(&self, w: &mut W) -> Result<()> {
        self.check().map_err(Error::BadEvent)?;
        w.raw(&self.rule_id.0);
        w.raw(&self.owner.0);
        w.raw(&self.trigger.0);
        w.text_up_to("metric", &self.metric, MAX_RULE_NAME)?;
        w.raw(&[self.comparison.byte()]);
        w.raw(&self.threshold.to_be_bytes());
        w.raw(&self.action_device.0);
        w.text_up_to("command", &self.command, MAX_RULE_NAME)?;
        w.raw(&[u8::from(self.notify)]);
        match self.window {
            None => w.raw(&[0]),
            Some(d) => {
                w.raw(&[1]);
                w.raw(&d.start.to_be_bytes());
                w.raw(&d.end.to_be_bytes());
                w.raw(&d.utc_offset_minutes.to_be_bytes());
            }
        }
        w.u64(self.valid_from);
        w.u64(self.valid_until);
        Ok(())
    }

    pub(super) fn decode_fields(r: &mut R<'_>) -> Result<Self> {
        let rule_id = GrantId(r.arr("rule_id")?);
        let owner = Pseudonym(r.arr("owner")?);
        let trigger = DeviceId(r.arr("trigger")?);
        let metric = r.text_up_to("metric", MAX_RULE_NAME)?;
        let b = r.u8("comparison")?;
        let comparison =
            Comparison::from_byte(b).ok_or_else(|| Error::BadLeaf(format!("unknown comparison 0x{b:02x}")))?;
        let threshold = i64::from_be_bytes(r.arr("threshold")?);
        let action_device = DeviceId(r.arr("action_device")?);
        let command = r.text_up_to("command", MAX_RULE_NAME)?;
        let notify = match r.u8("notify")? {
            0 => false,
            1 => true,
            b => return Err(Error::BadLeaf(format!("notify must be 0 or 1, not {b}"))),
        };
        let window = match r.u8("window")? {
            0 => None,
            1 => Some(DayWindow {
                start: r.u16("window_start")?,
                end: r.u16("window_end")?,
                utc_offset_minutes: i16::from_be_bytes(r.arr("utc_offset")?),
            }),
            b => return Err(Error::BadLeaf(format!("window flag must be 0 or 1, not {b}"))),
        };
        let valid_from = r.u64("valid_from")?;
        let valid_until = r.u64("valid_until")?;
        let rule = Self {
            rule_id,
            owner,
            trigger,
            metric,
            comparison,
            threshold,
            action_device,
            command,
            notify,
            window,
            valid_from,
            valid_until,
        };
        rule.check().map_err(Error::BadLeaf)?;
        Ok(rule)
    }

    fn check(&self) -> std::result::Result<(), String> {
        check_scope(&self.metric).map_err(|m| format!("rule metric: {m}"))?;
        check_scope(&self.command).map_err(|m| format!("rule command: {m}"))?;
        if self.trigger == self.action_device {
            return Err("a rule links two different devices".into());
        }
        if self.valid_from >= self.valid_until {
            return Err("rule valid_from must be before valid_until".into());
        }
        self.window.as_ref().map_or(Ok(()), DayWindow::check)
    }
}

/// What a `rule.fired` receipt records: the rule, the reading that fired it (the trigger's
/// counter: the signed reading itself is in the resident's data), the command sent and the
/// quorum checkpoint the rule was verified against just before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Firing {
    /// The rule.
    pub rule_id: GrantId,
    /// The counter of the trigger's reading that fired it.
    pub trigger_counter: u64,
    /// Hash of the trigger's signed reading bytes ([`crate::device::Reading::signing_bytes`]),
    /// so the receipt names one reading, not just a counter.
    pub reading_hash: Hash,
    /// The command sent to the action device.
    pub command: String,
    /// Time of the firing.
    pub fired_at: u64,
    /// The checkpoint the rule was verified against.
    pub verified_at: CheckpointRef,
}

impl Firing {
    pub(super) fn encode_fields(&self, w: &mut W) -> Result<()> {
        check_scope(&self.command).map_err(|m| Error::BadEvent(format!("rule command: {m}")))?;
        if self.verified_at.size == 0 {
            return Err(Error::BadEvent("a firing's verified checkpoint cannot be empty".into()));
        }
        w.raw(&self.rule_id.0);
        w.u64(self.trigger_counter);
        w.raw(&self.reading_hash.0);
        w.text_up_to("command", &self.command, MAX_RULE_NAME)?;
        w.u64(self.fired_at);
        w.u64(self.verified_at.size);
        w.raw(&self.verified_at.root.0);
        Ok(())
    }

    pub(super) fn decode_fields(r: &mut R<'_>) -> Result<Self> {
        let rule_id = GrantId(r.arr("rule_id")?);
        let trigger_counter = r.u64("trigger_counter")?;
        let reading_hash = Hash(r.arr("reading_hash")?);
        let command = r.text_up_to("command", MAX_RULE_NAME)?;
        check_scope(&command).map_err(|m| Error::BadLeaf(format!("rule command: {m}")))?;
        let fired_at = r.u64("fired_at")?;
        let size = r.u64("verified_size")?;
        if size == 0 {
            return Err(Error::BadLeaf("verified_size is 0: a firing's checkpoint cannot be empty".into()));
        }
        let root = Hash(r.arr("verified_root")?);
        Ok(Self {
            rule_id,
            trigger_counter,
            reading_hash,
            command,
            fired_at,
            verified_at: CheckpointRef { size, root },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_over_midnight_holds_late_and_early_hours() {
        // 23:00 to 06:00 Beijing time (UTC+8).
        let w = DayWindow { start: 23 * 60, end: 6 * 60, utc_offset_minutes: 480 };
        let utc = |h: u64, m: u64| 1_780_000_000 / 86_400 * 86_400 + h * 3600 + m * 60;
        assert!(w.contains(utc(15, 0)), "23:00 local");
        assert!(w.contains(utc(21, 59)), "05:59 local");
        assert!(!w.contains(utc(22, 0)), "06:00 local");
        assert!(!w.contains(utc(14, 59)), "22:59 local");
        let day = DayWindow { start: 9 * 60, end: 17 * 60, utc_offset_minutes: 0 };
        assert!(day.contains(utc(9, 0)) && !day.contains(utc(17, 0)) && !day.contains(utc(8, 59)));
    }

    #[test]
    fn comparisons_round_trip_and_hold() {
        for c in Comparison::ALL {
            assert_eq!(Comparison::from_byte(c.byte()), Some(c));
            assert_eq!(Comparison::from_symbol(c.symbol()), Some(c));
        }
        assert!(Comparison::Above.holds(31, 30) && !Comparison::Above.holds(30, 30));
        assert!(Comparison::AtMost.holds(30, 30) && Comparison::NotEqual.holds(1, 0));
    }
}
