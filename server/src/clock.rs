//! Time, in one place: what the server calls "now" and how it writes times down. Ledger leaves
//! carry whole Unix seconds, so rows that a leaf is recomputed from hold whole seconds too.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Now, to the second (a row written with it matches the leaf recomputed from it).
#[must_use]
pub fn now_s() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// A time as a leaf writes it: whole Unix seconds.
///
/// # Errors
/// A time before 1970.
pub fn unix(t: OffsetDateTime) -> anyhow::Result<u64> {
    Ok(u64::try_from(t.unix_timestamp())?)
}

/// Now, in Unix seconds (checkpoint and cosignature times).
#[must_use]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A time as the API and the pages show it: RFC 3339 (empty only for a year beyond 9999).
#[must_use]
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_has_whole_seconds_and_times_are_written_as_rfc3339() {
        assert_eq!(now_s().nanosecond(), 0);
        assert!(unix_now().abs_diff(u64::try_from(now_s().unix_timestamp()).unwrap()) <= 1);
        assert_eq!(rfc3339(time::macros::datetime!(2026-12-02 14:15:13 UTC)), "2026-12-02T14:15:13Z");
    }
}
