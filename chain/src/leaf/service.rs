//! `service.published` in leaf format v2: every term of a service version that a resident reads
//! before agreeing or that the gate enforces on a read, so that none of them can change in the
//! database without the recomputed leaf hash differing from the cosigned one.

use serde::{Deserialize, Serialize};

use super::codec::{R, W};
use crate::error::{Error, Result};

/// Longest description, in bytes (4,000 characters of CJK text are 12,000 bytes).
pub const MAX_DESCRIPTION_BYTES: usize = 16_384;

/// How often a grant for a service may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum AccessMode {
    /// A single read.
    OneOff,
    /// At most this many reads in any 24 hours.
    Recurring {
        /// The limit, at least 1.
        max_reads_per_day: u32,
    },
    /// No frequency limit while the grant is valid.
    Ongoing,
}

impl AccessMode {
    /// The mode's byte in the leaf.
    const fn byte(self) -> u8 {
        match self {
            Self::OneOff => 0x01,
            Self::Recurring { .. } => 0x02,
            Self::Ongoing => 0x03,
        }
    }

    /// The database's spelling: `one_off`, `recurring`, `ongoing`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::OneOff => "one_off",
            Self::Recurring { .. } => "recurring",
            Self::Ongoing => "ongoing",
        }
    }

    /// The daily limit, for `recurring` only.
    #[must_use]
    pub const fn max_reads_per_day(self) -> Option<u32> {
        match self {
            Self::Recurring { max_reads_per_day } => Some(max_reads_per_day),
            _ => None,
        }
    }

    /// The inverse of [`Self::name`] with [`Self::max_reads_per_day`].
    ///
    /// # Errors
    /// [`Error::BadEvent`] for an unknown mode, a recurring mode without a positive limit, or a
    /// limit on another mode.
    pub fn from_parts(name: &str, max_reads_per_day: Option<u32>) -> Result<Self> {
        match (name, max_reads_per_day) {
            ("one_off", None) => Ok(Self::OneOff),
            ("ongoing", None) => Ok(Self::Ongoing),
            ("recurring", Some(n)) if n > 0 => Ok(Self::Recurring { max_reads_per_day: n }),
            ("recurring", _) => Err(Error::BadEvent("a recurring access mode needs max_reads_per_day >= 1".into())),
            ("one_off" | "ongoing", Some(_)) => {
                Err(Error::BadEvent(format!("access mode {name} takes no max_reads_per_day")))
            }
            _ => Err(Error::BadEvent(format!("unknown access mode {name:?}"))),
        }
    }
}

/// A service version's published terms (leaf format v2 of `service.published`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTerms {
    /// Agency identifier, e.g. `transit-authority`.
    pub agency: String,
    /// Service identifier within the agency.
    pub service: String,
    /// Service version, starting at 1.
    pub version: u32,
    /// The service's name in English.
    pub name_en: String,
    /// The service's name in Chinese.
    pub name_zh: String,
    /// What the service does, in English.
    pub description_en: String,
    /// What the service does, in Chinese.
    pub description_zh: String,
    /// The category the portal files it under.
    pub category: String,
    /// Purpose text shown to residents and written into every grant and receipt.
    pub purpose: String,
    /// Scopes every grant must include (canonical order).
    pub required_scopes: Vec<String>,
    /// Scopes a resident may add (canonical order, disjoint from the required ones).
    pub optional_scopes: Vec<String>,
    /// How long the agency keeps what it read, in days.
    pub retention_days: u32,
    /// How often a grant may be used.
    pub access: AccessMode,
    /// Districts whose residents the service is for (canonical order); empty: the whole city.
    pub districts: Vec<String>,
    /// How many days of history before the grant's start a read may reach; 0: none.
    pub history_days: u32,
}

/// Whether a version for `districts` (empty: the whole city) serves a resident living in
/// `home` (none known: only a whole-city service does). The one rule the offers, the grant and
/// the gate apply.
#[must_use]
pub fn serves_district(districts: &[String], home: Option<&str>) -> bool {
    districts.is_empty() || home.is_some_and(|h| districts.iter().any(|d| d == h))
}

impl ServiceTerms {
    /// Every scope the version asks for, required and optional, in canonical order.
    #[must_use]
    pub fn all_scopes(&self) -> Vec<String> {
        super::canonical_scopes(self.required_scopes.iter().chain(&self.optional_scopes).cloned())
    }

    pub(super) fn encode_fields(&self, w: &mut W) -> Result<()> {
        if let Some(s) = self.required_scopes.iter().find(|s| self.optional_scopes.contains(s)) {
            return Err(Error::BadEvent(format!("scope {s:?} is both required and optional")));
        }
        if self.access == (AccessMode::Recurring { max_reads_per_day: 0 }) {
            return Err(Error::BadEvent("a recurring access mode needs max_reads_per_day >= 1".into()));
        }
        w.text("agency", &self.agency)?;
        w.text("service", &self.service)?;
        w.u32(self.version);
        w.text("name_en", &self.name_en)?;
        w.text("name_zh", &self.name_zh)?;
        w.text_up_to("description_en", &self.description_en, MAX_DESCRIPTION_BYTES)?;
        w.text_up_to("description_zh", &self.description_zh, MAX_DESCRIPTION_BYTES)?;
        w.text("category", &self.category)?;
        w.text("purpose", &self.purpose)?;
        w.scopes("required_scopes", &self.required_scopes)?;
        w.scopes("optional_scopes", &self.optional_scopes)?;
        w.u32(self.retention_days);
        w.raw(&[self.access.byte()]);
        w.u32(self.access.max_reads_per_day().unwrap_or(0));
        w.scopes("districts", &self.districts)?;
        w.u32(self.history_days);
        Ok(())
    }

    pub(super) fn decode_fields(r: &mut R<'_>) -> Result<Self> {
        let agency = r.text("agency")?;
        let service = r.text("service")?;
        let version = r.u32("version")?;
        let name_en = r.text("name_en")?;
        let name_zh = r.text("name_zh")?;
        let description_en = r.text_up_to("description_en", MAX_DESCRIPTION_BYTES)?;
        let description_zh = r.text_up_to("description_zh", MAX_DESCRIPTION_BYTES)?;
        let category = r.text("category")?;
        let purpose = r.text("purpose")?;
        let required_scopes = r.scopes("required_scopes")?;
        let optional_scopes = r.scopes("optional_scopes")?;
        if let Some(s) = required_scopes.iter().find(|s| optional_scopes.contains(s)) {
            return Err(Error::BadLeaf(format!("scope {s:?} is both required and optional")));
        }
        let retention_days = r.u32("retention_days")?;
        let mode = r.u8("access_mode")?;
        let limit = r.u32("max_reads_per_day")?;
        let access = match (mode, limit) {
            (0x01, 0) => AccessMode::OneOff,
            (0x02, n) if n > 0 => AccessMode::Recurring { max_reads_per_day: n },
            (0x03, 0) => AccessMode::Ongoing,
            (0x01..=0x03, _) => {
                return Err(Error::BadLeaf("max_reads_per_day must be positive for recurring and 0 otherwise".into()));
            }
            (m, _) => return Err(Error::BadLeaf(format!("unknown access mode 0x{m:02x}"))),
        };
        let districts = r.scopes("districts")?;
        let history_days = r.u32("history_days")?;
        Ok(Self {
            agency,
            service,
            version,
            name_en,
            name_zh,
            description_en,
            description_zh,
            category,
            purpose,
            required_scopes,
            optional_scopes,
            retention_days,
            access,
            districts,
            history_days,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::demo::sample_terms;
    use crate::leaf::{AccessMode, Event, LEAF_V1, LEAF_V2};

    fn v2_bytes() -> Vec<u8> {
        Event::ServicePublishedV2(sample_terms()).encode().unwrap()
    }

    /// Byte offset of the access mode in the sample: everything before it is fixed by the sample.
    fn access_mode_offset(bytes: &[u8]) -> usize {
        // districts (2 + 1+7 + 1+8) and history_days (4) follow max_reads_per_day (4).
        bytes.len() - 4 - (2 + 8 + 9) - 4 - 1
    }

    #[test]
    fn v2_round_trips_and_v1_still_decodes() {
        let bytes = v2_bytes();
        assert_eq!(bytes[0], LEAF_V2);
        assert_eq!(Event::decode(&bytes).unwrap(), Event::ServicePublishedV2(sample_terms()));
        let v1 = &crate::demo::sample_events()[0];
        assert_eq!(v1.format_version(), LEAF_V1);
        assert_eq!(&Event::decode(&v1.encode().unwrap()).unwrap(), v1);
    }

    #[test]
    fn every_term_changes_the_leaf_hash() {
        let base = Event::ServicePublishedV2(sample_terms()).leaf_hash().unwrap();
        type Edit = fn(&mut super::ServiceTerms);
        let edits: [(&str, Edit); 8] = [
            ("name_zh", |t| t.name_zh.push('!')),
            ("description_en", |t| t.description_en.push('!')),
            ("category", |t| t.category = "health".into()),
            ("access", |t| t.access = AccessMode::Ongoing),
            ("limit", |t| t.access = AccessMode::Recurring { max_reads_per_day: 5 }),
            ("districts", |t| drop(t.districts.pop())),
            ("history_days", |t| t.history_days = 0),
            ("optional", |t| t.optional_scopes.clear()),
        ];
        for (what, edit) in edits {
            let mut t = sample_terms();
            edit(&mut t);
            assert_ne!(Event::ServicePublishedV2(t).leaf_hash().unwrap(), base, "{what} is not committed to");
        }
    }

    #[test]
    fn strict_decoding_names_the_bad_field() {
        let bytes = v2_bytes();
        let at = access_mode_offset(&bytes);
        assert_eq!(bytes[at], 0x02, "the sample is recurring");
        let mut unknown = bytes.clone();
        unknown[at] = 0x09;
        assert!(Event::decode(&unknown).unwrap_err().to_string().contains("unknown access mode 0x09"));
        let mut no_limit = bytes.clone();
        no_limit[at + 1..at + 5].copy_from_slice(&0u32.to_be_bytes());
        assert!(Event::decode(&no_limit).unwrap_err().to_string().contains("max_reads_per_day"));
        let mut limit_on_ongoing = bytes.clone();
        limit_on_ongoing[at] = 0x03;
        assert!(Event::decode(&limit_on_ongoing).unwrap_err().to_string().contains("max_reads_per_day"));
        let mut other_type = bytes.clone();
        other_type[1] = 0x02;
        assert!(Event::decode(&other_type).unwrap_err().to_string().contains("no leaf version 2"));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(Event::decode(&trailing).unwrap_err().to_string().contains("trailing"));
        let mut unknown_version = bytes;
        unknown_version[0] = 0x03;
        assert!(Event::decode(&unknown_version).unwrap_err().to_string().contains("unknown leaf version 0x03"));
    }

    #[test]
    fn a_service_for_some_districts_serves_their_residents_only() {
        let (some, city) = (vec!["harbour".to_owned(), "old-town".to_owned()], vec![]);
        assert!(super::serves_district(&some, Some("old-town")));
        assert!(!super::serves_district(&some, Some("hills")));
        assert!(!super::serves_district(&some, None), "nowhere known is not in the districts");
        assert!(super::serves_district(&city, None) && super::serves_district(&city, Some("hills")));
    }

    #[test]
    fn encoding_refuses_terms_no_row_can_hold() {
        let mut both = sample_terms();
        both.optional_scopes = both.required_scopes.clone();
        assert!(
            Event::ServicePublishedV2(both).encode().unwrap_err().to_string().contains("both required and optional")
        );
        let mut zero = sample_terms();
        zero.access = AccessMode::Recurring { max_reads_per_day: 0 };
        assert!(Event::ServicePublishedV2(zero).encode().is_err());
        let mut long = sample_terms();
        long.description_zh = "长".repeat(6000);
        assert!(Event::ServicePublishedV2(long).encode().unwrap_err().to_string().contains("description_zh"));
        assert_eq!(AccessMode::from_parts("recurring", Some(4)).unwrap().max_reads_per_day(), Some(4));
        assert!(AccessMode::from_parts("recurring", None).is_err());
        assert!(AccessMode::from_parts("ongoing", Some(1)).is_err());
        assert!(AccessMode::from_parts("weekly", None).is_err());
    }
}
