//! The city's calendar: its time zone, months and days, the property tax's due dates.

use time::{Duration, OffsetDateTime, UtcOffset};

/// The next property-tax instalment after `now`: the city collects on 30 June and 31 December.
pub(super) fn next_tax_due(now: OffsetDateTime) -> OffsetDateTime {
    use time::macros::time;
    let year = now.year();
    let june = time::Date::from_calendar_date(year, time::Month::June, 30).map(|d| d.with_time(time!(23:59)));
    let dec = time::Date::from_calendar_date(year, time::Month::December, 31).map(|d| d.with_time(time!(23:59)));
    [june, dec]
        .into_iter()
        .flatten()
        .map(|d| d.assume_offset(city_offset()))
        .find(|&d| d > now)
        .or_else(|| {
            time::Date::from_calendar_date(year + 1, time::Month::June, 30)
                .ok()
                .map(|d| d.with_time(time!(23:59)).assume_offset(city_offset()))
        })
        .unwrap_or(now)
}

pub(crate) fn city_offset() -> UtcOffset {
    UtcOffset::from_hms(app::i18n::CITY_OFFSET_HOURS, 0, 0).unwrap_or(UtcOffset::UTC)
}

/// The first day of the current month in the city's time zone.
pub(super) fn month_start(now: OffsetDateTime) -> OffsetDateTime {
    let local = now.to_offset(city_offset());
    local.replace_day(1).map(|d| d.replace_time(time::Time::MIDNIGHT)).unwrap_or(local)
}

/// The first day of the next month in the city's time zone.
pub(crate) fn next_month(now: OffsetDateTime) -> OffsetDateTime {
    let start = month_start(now);
    let (year, month) = match start.month() {
        time::Month::December => (start.year() + 1, time::Month::January),
        m => (start.year(), m.next()),
    };
    start.replace_year(year).and_then(|d| d.replace_month(month)).unwrap_or(start + Duration::days(31))
}

/// Midnight starting today in the city's time zone: windows of whole days move only then, so
/// a page stays the same all day (`page_cache` relies on it).
pub(super) fn day_start(now: OffsetDateTime) -> OffsetDateTime {
    now.to_offset(city_offset()).replace_time(time::Time::MIDNIGHT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_tax_falls_due_at_the_next_half_year_end() {
        let t = |s: &str| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
        assert_eq!(next_tax_due(t("2026-03-01T00:00:00Z")).date().to_string(), "2026-06-30");
        assert_eq!(next_tax_due(t("2026-07-01T00:00:00Z")).date().to_string(), "2026-12-31");
        assert_eq!(next_tax_due(t("2027-01-01T00:00:00+08:00")).date().to_string(), "2027-06-30");
    }

    #[test]
    fn months_and_days_start_at_midnight_in_the_city() {
        let t = |s: &str| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
        // 16:00 UTC on 31 December is already 1 January in the city (UTC+8).
        assert_eq!(next_month(t("2026-12-31T15:59:59Z")), t("2027-01-01T00:00:00+08:00"));
        assert_eq!(next_month(t("2026-12-31T16:00:00Z")), t("2027-02-01T00:00:00+08:00"));
        assert_eq!(next_month(t("2026-01-31T12:00:00Z")), t("2026-02-01T00:00:00+08:00"));
        assert_eq!(day_start(t("2026-11-25T17:30:00Z")), t("2026-11-26T00:00:00+08:00"));
    }
}
