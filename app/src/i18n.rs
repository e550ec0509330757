//! The portal's two languages, English and Simplified Chinese.
//!
//! Every text a page shows is a field of [`Messages`]; [`EN`] and [`ZH`] are the two
//! catalogues. A missing translation is a compile error (both are struct literals), and the
//! WebAssembly bundle carries no message-format runtime: `leptos_i18n` would add ICU data and a
//! build-time code generator for two fixed locales and a few dozen plural-free messages.
//! Texts with values in them are methods on [`Locale`].
//!
//! Which language: the `lang` cookie, else the browser's `Accept-Language`, else English. The
//! cookie is set by the language switch (a plain form, so it works without JavaScript) and, at
//! sign-in, from the language the resident last chose, which the account keeps. The server
//! writes the language into `<html lang>`; the browser reads it back from there when it
//! hydrates, so both render the same text.
//!
//! Dates and times are shown in the city's time zone ([`CITY_OFFSET_HOURS`]).

use leptos::prelude::*;
use time::{OffsetDateTime, UtcOffset};

/// Name of the cookie that remembers the language.
pub const LANG_COOKIE: &str = "lang";

/// The city's time zone (UTC+8), in which every date and time is shown.
pub const CITY_OFFSET_HOURS: i8 = 8;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Locale {
    #[default]
    En,
    Zh,
}

impl Locale {
    /// The BCP 47 tag, as in `<html lang>` and the cookie.
    #[must_use]
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Zh => "zh-CN",
        }
    }

    /// Parses a tag. Any Chinese tag (`zh`, `zh-Hans`, `zh-CN`, ...) is Simplified Chinese.
    #[must_use]
    pub fn parse(tag: &str) -> Option<Self> {
        let tag = tag.trim().to_ascii_lowercase();
        if tag == "en" || tag.starts_with("en-") {
            Some(Self::En)
        } else if tag == "zh" || tag.starts_with("zh-") {
            Some(Self::Zh)
        } else {
            None
        }
    }

    /// The first supported language of an `Accept-Language` header, by descending q-value.
    #[must_use]
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let mut ranked: Vec<(f32, Self)> = header
            .split(',')
            .filter_map(|part| {
                let mut it = part.split(';');
                let locale = Self::parse(it.next()?)?;
                let q = it.find_map(|p| p.trim().strip_prefix("q=")).map_or(Some(1.0), |q| q.parse::<f32>().ok())?;
                (q > 0.0).then_some((q, locale))
            })
            .collect();
        // Stable: of equal weights the header's order wins.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.first().map(|&(_, l)| l)
    }

    #[must_use]
    pub fn messages(self) -> &'static Messages {
        match self {
            Self::En => &EN,
            Self::Zh => &ZH,
        }
    }

    /// Picks the text of this language from a pair stored in the database.
    #[must_use]
    pub fn pick<'a>(self, en: &'a str, zh: &'a str) -> &'a str {
        match self {
            Self::En => en,
            Self::Zh => zh,
        }
    }

    /// `25 Nov 2026` / `2026年11月25日`, from RFC 3339 (the input unchanged if it is not).
    #[must_use]
    pub fn date(self, rfc3339: &str) -> String {
        parse_local(rfc3339).map_or_else(|| rfc3339.to_owned(), |t| self.date_of(t))
    }

    #[must_use]
    pub fn date_of(self, t: OffsetDateTime) -> String {
        match self {
            Self::En => format!("{} {} {}", t.day(), &MONTHS_EN[usize::from(u8::from(t.month()) - 1)][..3], t.year()),
            Self::Zh => format!("{}年{}月{}日", t.year(), u8::from(t.month()), t.day()),
        }
    }

    /// A date and a 24-hour time in the city's zone.
    #[must_use]
    pub fn date_time(self, rfc3339: &str) -> String {
        parse_local(rfc3339)
            .map_or_else(|| rfc3339.to_owned(), |t| format!("{} {:02}:{:02}", self.date_of(t), t.hour(), t.minute()))
    }

    /// A month and year: `November 2026` / `2026年11月`.
    #[must_use]
    pub fn month_of(self, t: OffsetDateTime) -> String {
        match self {
            Self::En => format!("{} {}", MONTHS_EN[usize::from(u8::from(t.month()) - 1)], t.year()),
            Self::Zh => format!("{}年{}月", t.year(), u8::from(t.month())),
        }
    }

    /// A short month: `Nov` / `11月`.
    #[must_use]
    pub fn short_month(self, month: u8) -> String {
        let i = usize::from(month.clamp(1, 12) - 1);
        match self {
            Self::En => MONTHS_EN[i][..3].to_owned(),
            Self::Zh => format!("{}月", i + 1),
        }
    }

    /// An integer with thousands separators (both languages group by three here).
    #[must_use]
    pub fn number(self, n: i64) -> String {
        let digits = n.unsigned_abs().to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
        if n < 0 {
            out.push('-');
        }
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    /// An amount in yuan from cents: `¥1,234.50` / `1,234.50元`.
    #[must_use]
    pub fn money(self, cents: i64) -> String {
        let sign = if cents < 0 { "-" } else { "" };
        let whole = self.number(cents.abs() / 100);
        let frac = cents.abs() % 100;
        match self {
            Self::En => format!("{sign}¥{whole}.{frac:02}"),
            Self::Zh => format!("{sign}{whole}.{frac:02}元"),
        }
    }

    /// `Hello, Li Wei` / `李伟，您好`.
    #[must_use]
    pub fn hello(self, name: &str) -> String {
        match self {
            Self::En => format!("Hello, {name}"),
            Self::Zh => format!("{name}，您好"),
        }
    }

    #[must_use]
    pub fn lives_in(self, district: &str) -> String {
        match self {
            Self::En => format!("You live in {district}."),
            Self::Zh => format!("您住在{district}。"),
        }
    }

    #[must_use]
    pub fn days(self, n: i64) -> String {
        match self {
            Self::En if n == 1 => "1 day".to_owned(),
            Self::En => format!("{} days", self.number(n)),
            Self::Zh => format!("{}天", self.number(n)),
        }
    }

    /// How often a service may read, from its access mode.
    #[must_use]
    pub fn access_mode(self, mode: &str, per_day: Option<i32>) -> String {
        match (self, mode) {
            (Self::En, "one_off") => "Once".to_owned(),
            (Self::Zh, "one_off") => "仅一次".to_owned(),
            (Self::En, "recurring") if per_day.unwrap_or(1) == 1 => "Once a day".to_owned(),
            (Self::En, "recurring") => format!("Up to {} times a day", per_day.unwrap_or(1)),
            (Self::Zh, "recurring") => format!("每天最多{}次", per_day.unwrap_or(1)),
            (Self::En, _) => "Whenever the service needs it, while the permission lasts".to_owned(),
            (Self::Zh, _) => "授权有效期内按需读取".to_owned(),
        }
    }

    #[must_use]
    pub fn until(self, rfc3339: &str) -> String {
        match self {
            Self::En => format!("until {}", self.date(rfc3339)),
            Self::Zh => format!("至{}", self.date(rfc3339)),
        }
    }

    #[must_use]
    pub fn trips(self, n: i64) -> String {
        match self {
            Self::En if n == 1 => "1 trip".to_owned(),
            Self::En => format!("{} trips", self.number(n)),
            Self::Zh => format!("{}次", self.number(n)),
        }
    }

    #[must_use]
    pub fn kwh(self, n: i64) -> String {
        match self {
            Self::En => format!("{} kWh", self.number(n)),
            Self::Zh => format!("{}千瓦时", self.number(n)),
        }
    }

    /// The badge after the browser checked a proof.
    #[must_use]
    pub fn verified_by(self, cosigners: usize, size: u64) -> String {
        match self {
            Self::En => format!("Verified in your browser: cosigned by {cosigners} witnesses, log size {size}"),
            Self::Zh => format!("已在您的浏览器中验证：{cosigners}个见证方联署，账本条目数{size}"),
        }
    }

    #[must_use]
    pub fn quorum(self, k: i64, n: i64) -> String {
        match self {
            Self::En => format!("A checkpoint counts once {k} of the {n} witnesses have cosigned it."),
            Self::Zh => format!("{n}个见证方中有{k}个联署后，检查点才生效。"),
        }
    }

    #[must_use]
    pub fn reads_chart(self, total: i64, days: i64) -> String {
        match self {
            Self::En => format!("{total} reads over the last {days} days, by day"),
            Self::Zh => format!("最近{days}天共{total}次读取，按天统计"),
        }
    }

    #[must_use]
    pub fn usage_chart(self, months: usize) -> String {
        match self {
            Self::En => format!("Electricity use in the last {months} readings"),
            Self::Zh => format!("最近{months}次电表读数"),
        }
    }

    #[must_use]
    pub fn entries(self, n: i64) -> String {
        match self {
            Self::En => format!("{} entries", self.number(n)),
            Self::Zh => format!("{}条记录", self.number(n)),
        }
    }

    /// Text of a gate denial reason.
    #[must_use]
    pub fn denial(self, reason: &str) -> &'static str {
        let m = self.messages();
        match reason {
            "no_grant" => m.deny_no_grant,
            "pending" => m.deny_pending,
            "expired" => m.deny_expired,
            "revoked" => m.deny_revoked,
            "scope_not_granted" => m.deny_scope,
            "frequency_exceeded" => m.deny_frequency,
            "integrity" => m.deny_integrity,
            _ => m.error_generic,
        }
    }

    /// Text of a grant state.
    #[must_use]
    pub fn grant_state(self, state: &str) -> &'static str {
        let m = self.messages();
        match state {
            "pending" => m.state_pending,
            "active" => m.state_active,
            "expired" => m.state_expired,
            "revoked" => m.state_revoked,
            "replaced" => m.state_replaced,
            _ => m.state_unknown,
        }
    }

    /// What a failed proof badge says when the verified entry holds another value than the page
    /// shows for `field` (a name from `chain::claim::Field::name`).
    #[must_use]
    pub fn proof_differs(self, field: &str) -> String {
        let (en, zh) = match field {
            "grant_id" => ("permission", "授权编号"),
            "scopes" => ("data", "数据范围"),
            "purpose" => ("purpose", "用途"),
            "valid_from" => ("start", "开始时间"),
            "valid_until" => ("end", "结束时间"),
            "reader" => ("reader", "读取方"),
            "time" => ("time", "时间"),
            _ => ("kind of entry", "记录类型"),
        };
        match self {
            Self::En => format!("Proof check FAILED: the ledger's entry has another {en} than this page shows"),
            Self::Zh => format!("证明核验失败：账本记录的{zh}与本页显示的不同"),
        }
    }

    /// Text of a scope's sensitivity (1–3).
    #[must_use]
    pub fn sensitivity(self, level: i16) -> &'static str {
        let m = self.messages();
        match level {
            3 => m.sensitivity_high,
            2 => m.sensitivity_medium,
            _ => m.sensitivity_low,
        }
    }
}

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The current time (the browser's clock in the browser: `OffsetDateTime::now_utc` has no
/// clock on wasm32-unknown-unknown).
#[must_use]
pub fn now() -> OffsetDateTime {
    #[cfg(feature = "hydrate")]
    {
        let ms = js_sys::Date::now() as i128;
        OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        OffsetDateTime::now_utc()
    }
}

/// The end (23:59:59 in the city) of the day `days` after today: what "share for N days"
/// means. The same all day long, so the server's and the browser's forms agree.
#[must_use]
pub fn end_of_day_in(days: i64) -> String {
    let offset = UtcOffset::from_hms(CITY_OFFSET_HOURS, 0, 0).unwrap_or(UtcOffset::UTC);
    let today = now().to_offset(offset).date();
    let day = today.checked_add(time::Duration::days(days)).unwrap_or(today);
    day.with_hms(23, 59, 59)
        .map(|t| t.assume_offset(offset))
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// An RFC 3339 time in the city's zone.
#[must_use]
pub fn parse_local(rfc3339: &str) -> Option<OffsetDateTime> {
    let t = OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.to_offset(UtcOffset::from_hms(CITY_OFFSET_HOURS, 0, 0).ok()?))
}

/// The language of this page.
#[must_use]
pub fn use_locale() -> Locale {
    use_context::<Locale>().unwrap_or_default()
}

/// The texts of this page's language.
#[must_use]
pub fn use_messages() -> &'static Messages {
    use_locale().messages()
}

/// The language of the request being rendered (server) or of the page (browser).
#[must_use]
pub fn detect() -> Locale {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>().map(|p| from_request(&p.headers)).unwrap_or_default()
    }
    #[cfg(not(feature = "ssr"))]
    {
        document()
            .document_element()
            .and_then(|e| e.get_attribute("lang"))
            .and_then(|l| Locale::parse(&l))
            .unwrap_or_default()
    }
}

/// The `lang` cookie, else `Accept-Language`, else English.
#[cfg(feature = "ssr")]
#[must_use]
pub fn from_request(headers: &http::HeaderMap) -> Locale {
    let cookie = headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == LANG_COOKIE)
        .and_then(|(_, value)| Locale::parse(value));
    cookie
        .or_else(|| {
            headers
                .get(http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Locale::from_accept_language)
        })
        .unwrap_or_default()
}

/// Every fixed text of the portal.
#[allow(clippy::struct_field_names)]
pub struct Messages {
    pub skip_to_content: &'static str,
    pub footer: &'static str,
    pub nav_label: &'static str,
    pub nav_my_city: &'static str,
    pub nav_city: &'static str,
    pub nav_permissions: &'static str,
    pub nav_data_use: &'static str,
    pub nav_console: &'static str,
    pub nav_transparency: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub language: &'static str,
    pub loading: &'static str,
    pub error_generic: &'static str,
    pub sign_in_needed: &'static str,
    pub not_found_title: &'static str,
    pub back_to_city: &'static str,

    // The public city
    pub welcome_title: &'static str,
    pub welcome_lead: &'static str,
    pub districts: &'static str,
    pub city_map: &'static str,
    pub city_map_desc: &'static str,
    pub services_catalogue: &'static str,
    pub services_catalogue_lead: &'static str,
    pub notices: &'static str,
    pub no_notices: &'static str,
    pub citywide: &'static str,

    // My City
    pub no_district: &'static str,
    pub your_services: &'static str,
    pub your_services_lead: &'static str,
    pub no_services_yet: &'static str,
    pub offers: &'static str,
    pub offers_lead: &'static str,
    pub no_offers: &'static str,
    pub enable: &'static str,
    pub agency: &'static str,
    pub asks_for: &'static str,
    pub purpose: &'static str,
    pub how_long: &'static str,
    pub how_often: &'static str,
    pub your_district: &'static str,
    pub map_desc: &'static str,
    pub facilities: &'static str,
    pub card_pending: &'static str,
    pub card_verified: &'static str,
    pub card_integrity: &'static str,
    pub card_manage: &'static str,
    pub trips_this_month: &'static str,
    pub spent_this_month: &'static str,
    pub recent_trips: &'static str,
    pub no_trips: &'static str,
    pub property_titles: &'static str,
    pub tax_due: &'static str,
    pub no_titles: &'static str,
    pub meter_readings: &'static str,
    pub no_readings: &'static str,
    pub clinic_eligible: &'static str,
    pub clinic_not_eligible: &'static str,
    pub clinic_where: &'static str,
    pub shared_data: &'static str,

    // Consent
    pub consent_title: &'static str,
    pub consent_lead: &'static str,
    pub consent_who: &'static str,
    pub consent_what: &'static str,
    pub consent_required: &'static str,
    pub consent_optional: &'static str,
    pub consent_why: &'static str,
    pub consent_how_long: &'static str,
    pub consent_how_often: &'static str,
    pub consent_duration: &'static str,
    pub consent_confirm: &'static str,
    pub consent_cancel: &'static str,
    pub consent_already: &'static str,
    pub consent_retention: &'static str,
    pub consent_not_offered: &'static str,
    pub sensitivity_low: &'static str,
    pub sensitivity_medium: &'static str,
    pub sensitivity_high: &'static str,

    // Permissions
    pub permissions_title: &'static str,
    pub permissions_lead: &'static str,
    pub no_grants: &'static str,
    pub new_grant_pending: &'static str,
    pub new_grant_active: &'static str,
    pub check_again: &'static str,
    pub window: &'static str,
    pub scopes: &'static str,
    pub state: &'static str,
    pub state_pending: &'static str,
    pub state_active: &'static str,
    pub state_expired: &'static str,
    pub state_revoked: &'static str,
    pub state_replaced: &'static str,
    pub state_unknown: &'static str,
    pub revoke: &'static str,
    pub revoked_done: &'static str,
    pub narrow: &'static str,
    pub narrow_keep: &'static str,
    pub extend: &'static str,
    pub extend_to: &'static str,
    pub history: &'static str,
    pub replaced_by_newer: &'static str,
    pub download_proof: &'static str,
    pub badge_needs_js: &'static str,
    pub badge_verifying: &'static str,
    pub badge_not_cosigned: &'static str,
    pub badge_failed: &'static str,
    pub badge_keys_changed: &'static str,
    pub badge_status_revoked: &'static str,
    pub badge_status_expired: &'static str,

    // Data use
    pub data_use_title: &'static str,
    pub data_use_lead: &'static str,
    pub filter: &'static str,
    pub filter_agency: &'static str,
    pub filter_scope: &'static str,
    pub filter_from: &'static str,
    pub filter_to: &'static str,
    pub filter_any: &'static str,
    pub filter_apply: &'static str,
    pub filter_clear: &'static str,
    pub reads_over_time: &'static str,
    pub no_receipts: &'static str,
    pub col_when: &'static str,
    pub col_who: &'static str,
    pub col_service: &'static str,
    pub col_scopes: &'static str,
    pub col_purpose: &'static str,
    pub col_proof: &'static str,
    pub col_day: &'static str,
    pub col_reads: &'static str,

    // Console
    pub console_title: &'static str,
    pub console_lead: &'static str,
    pub console_services: &'static str,
    pub console_no_services: &'static str,
    pub console_status_draft: &'static str,
    pub console_status_published: &'static str,
    pub console_status_withdrawn: &'static str,
    pub console_version: &'static str,
    pub console_new_service: &'static str,
    pub console_slug: &'static str,
    pub console_slug_hint: &'static str,
    pub console_create: &'static str,
    pub console_publish: &'static str,
    pub console_publish_title: &'static str,
    pub console_name_en: &'static str,
    pub console_name_zh: &'static str,
    pub console_description_en: &'static str,
    pub console_description_zh: &'static str,
    pub console_category: &'static str,
    pub console_required: &'static str,
    pub console_optional: &'static str,
    pub console_not_asked: &'static str,
    pub console_retention: &'static str,
    pub console_access_mode: &'static str,
    pub console_mode_one_off: &'static str,
    pub console_mode_recurring: &'static str,
    pub console_mode_ongoing: &'static str,
    pub console_per_day: &'static str,
    pub console_withdraw: &'static str,
    pub console_grants: &'static str,
    pub console_no_grants: &'static str,
    pub console_pseudonym: &'static str,
    pub console_query: &'static str,
    pub console_query_lead: &'static str,
    pub console_run: &'static str,
    pub console_denied: &'static str,
    pub console_released: &'static str,
    pub console_receipt: &'static str,
    pub console_open: &'static str,

    // Denials
    pub deny_no_grant: &'static str,
    pub deny_pending: &'static str,
    pub deny_expired: &'static str,
    pub deny_revoked: &'static str,
    pub deny_scope: &'static str,
    pub deny_frequency: &'static str,
    pub deny_integrity: &'static str,

    // Transparency
    pub transparency_title: &'static str,
    pub transparency_lead: &'static str,
    pub checkpoint: &'static str,
    pub no_checkpoint: &'static str,
    pub tree_size: &'static str,
    pub root_hash: &'static str,
    pub cosigned_at: &'static str,
    pub signed_note: &'static str,
    pub witnesses: &'static str,
    pub witness: &'static str,
    pub witness_key: &'static str,
    pub last_cosignature: &'static str,
    pub never: &'static str,
    pub anchors: &'static str,
    pub no_anchors: &'static str,
    pub anchor_block: &'static str,
    pub anchor_tx: &'static str,
    pub alarms: &'static str,
    pub no_alarms: &'static str,
    pub alarm_kind: &'static str,
    pub alarm_detail: &'static str,
    pub how_to_verify: &'static str,
    pub how_to_verify_steps: [&'static str; 4],
    pub log_key: &'static str,
}

pub const EN: Messages = Messages {
    skip_to_content: "Skip to content",
    footer: "onecity — your data, your city, every use on the record.",
    nav_label: "Main",
    nav_my_city: "My City",
    nav_city: "The city",
    nav_permissions: "Permissions",
    nav_data_use: "Data use",
    nav_console: "Agency console",
    nav_transparency: "Transparency",
    sign_in: "Sign in",
    sign_out: "Sign out",
    language: "Language",
    loading: "Loading…",
    error_generic: "Something went wrong. Please try again.",
    sign_in_needed: "Please sign in to see this page.",
    not_found_title: "Page not found",
    back_to_city: "Back to the city",

    welcome_title: "Welcome to onecity",
    welcome_lead: "One person, one city: sign in to see the city built from the data you choose to share — and every use of it, with a proof.",
    districts: "Districts",
    city_map: "Map of the city",
    city_map_desc: "The city's districts, drawn from its open map data.",
    services_catalogue: "City services",
    services_catalogue_lead: "Each service says exactly which data it asks for, why and for how long. Nothing is shared until you agree.",
    notices: "Notices",
    no_notices: "No notices at the moment.",
    citywide: "Whole city",

    no_district: "Your district is not set yet.",
    your_services: "Your services",
    your_services_lead: "Built from the data you chose to share. Each card is checked against the city's ledger before it is filled.",
    no_services_yet: "You have not enabled any service yet. The offers below say what each would use.",
    offers: "Services you could enable",
    offers_lead: "Nothing is shared until you confirm. You can narrow or withdraw any permission later.",
    no_offers: "There is nothing new to enable.",
    enable: "Review and enable",
    agency: "Agency",
    asks_for: "Asks for",
    purpose: "Purpose",
    how_long: "For up to",
    how_often: "How often",
    your_district: "Your district",
    map_desc: "Your district with nearby facilities.",
    facilities: "Nearby facilities",
    card_pending: "Waiting for the witnesses to cosign your permission. This takes a few seconds.",
    card_verified: "Permission verified against the ledger",
    card_integrity: "This permission does not match the ledger. The city's operators have been alerted and nothing is shared.",
    card_manage: "Manage permission",
    trips_this_month: "Trips this month",
    spent_this_month: "Spent this month",
    recent_trips: "Recent trips",
    no_trips: "No trips this month.",
    property_titles: "Your properties",
    tax_due: "Property tax due",
    no_titles: "No property titles on record.",
    meter_readings: "Meter readings",
    no_readings: "No meter readings yet.",
    clinic_eligible: "You qualify for a free health check-up.",
    clinic_not_eligible: "This offer is for residents aged 65 or over; you do not qualify yet.",
    clinic_where: "Walk in at",
    shared_data: "Data this service uses",

    consent_title: "Review what you share",
    consent_lead: "Read what this service would see. Nothing is shared until you confirm.",
    consent_who: "Who",
    consent_what: "What data",
    consent_required: "Needed for the service",
    consent_optional: "Optional — choose what to add",
    consent_why: "Why",
    consent_how_long: "For how long",
    consent_how_often: "How often they may read it",
    consent_duration: "Share until",
    consent_confirm: "Confirm and share",
    consent_cancel: "Cancel",
    consent_already: "You already share data with this service. Confirming replaces that permission.",
    consent_retention: "The agency keeps what it reads for at most",
    consent_not_offered: "This service is not offered at the moment.",
    sensitivity_low: "low sensitivity",
    sensitivity_medium: "medium sensitivity",
    sensitivity_high: "high sensitivity",

    permissions_title: "Permissions",
    permissions_lead: "Every permission you gave, checked by your own browser against the city's ledger and its witnesses.",
    no_grants: "You have not given any permission yet.",
    new_grant_pending: "Your permission is recorded. It becomes active as soon as the witnesses cosign it.",
    new_grant_active: "Your permission is active.",
    check_again: "Check again",
    window: "Valid",
    scopes: "Data",
    state: "Status",
    state_pending: "Pending",
    state_active: "Active",
    state_expired: "Expired",
    state_revoked: "Revoked",
    state_replaced: "Replaced",
    state_unknown: "Unknown",
    revoke: "Revoke",
    revoked_done: "Revoked. The agency's next read will be refused.",
    narrow: "Share less",
    narrow_keep: "Keep sharing",
    extend: "Extend",
    extend_to: "New end date",
    history: "History",
    replaced_by_newer: "replaced by a newer permission",
    download_proof: "Download proof",
    badge_needs_js: "Proof not checked here (needs JavaScript). Download it and run onecity verify.",
    badge_verifying: "Checking the proof…",
    badge_not_cosigned: "Not cosigned yet",
    badge_failed: "Proof check FAILED",
    badge_keys_changed: "The ledger's keys changed since you first checked. Compare them on the Transparency page.",
    badge_status_revoked: "Verified: revoked in the ledger",
    badge_status_expired: "Verified: expired",

    data_use_title: "Data use",
    data_use_lead: "Every time an agency read your data: who, what, why and when. Each entry has a proof you can download and check.",
    filter: "Filter",
    filter_agency: "Agency",
    filter_scope: "Data",
    filter_from: "From",
    filter_to: "Until",
    filter_any: "Any",
    filter_apply: "Apply",
    filter_clear: "Clear filters",
    reads_over_time: "Reads over time",
    no_receipts: "No agency has read your data in this period.",
    col_when: "When",
    col_who: "Who",
    col_service: "Service",
    col_scopes: "Data",
    col_purpose: "Purpose",
    col_proof: "Proof",
    col_day: "Day",
    col_reads: "Reads",

    console_title: "Agency console",
    console_lead: "Your agency's services, the permissions residents gave them, and reads through the gate.",
    console_services: "Services",
    console_no_services: "Your agency has no services yet.",
    console_status_draft: "Draft",
    console_status_published: "Published",
    console_status_withdrawn: "Withdrawn",
    console_version: "Version",
    console_new_service: "New service",
    console_slug: "Short name (slug)",
    console_slug_hint: "Lowercase letters, digits and hyphens, e.g. parking-permit.",
    console_create: "Create draft",
    console_publish: "Publish version",
    console_publish_title: "Publish a new version",
    console_name_en: "Name (English)",
    console_name_zh: "Name (Chinese)",
    console_description_en: "Description (English)",
    console_description_zh: "Description (Chinese)",
    console_category: "Category",
    console_required: "Required",
    console_optional: "Optional",
    console_not_asked: "Not asked",
    console_retention: "Retention (days)",
    console_access_mode: "Access",
    console_mode_one_off: "Once",
    console_mode_recurring: "Limited per day",
    console_mode_ongoing: "Ongoing",
    console_per_day: "Reads per day",
    console_withdraw: "Withdraw service",
    console_grants: "Permissions",
    console_no_grants: "No resident has given this service a permission yet.",
    console_pseudonym: "Pseudonym",
    console_query: "Read through the gate",
    console_query_lead: "The gate verifies the resident's permission against the ledger first, and writes a receipt the resident sees before anything is returned.",
    console_run: "Read",
    console_denied: "Refused",
    console_released: "Released",
    console_receipt: "Receipt",
    console_open: "Open",

    deny_no_grant: "No permission from this resident for this service.",
    deny_pending: "The permission is not cosigned by the witnesses yet.",
    deny_expired: "The permission has expired.",
    deny_revoked: "The resident revoked the permission.",
    deny_scope: "That data is not part of the permission.",
    deny_frequency: "The permission allows no more reads now.",
    deny_integrity: "The permission does not match the ledger; operators were alerted.",

    transparency_title: "Transparency",
    transparency_lead: "The city's ledger records every service, permission and read. Independent witnesses cosign it, and its checkpoints are anchored on a public chain, so anyone can check that nothing was rewritten.",
    checkpoint: "Current checkpoint",
    no_checkpoint: "No checkpoint has been cosigned yet.",
    tree_size: "Entries",
    root_hash: "Root hash",
    cosigned_at: "Cosigned",
    signed_note: "The signed checkpoint, with its cosignatures",
    witnesses: "Witnesses",
    witness: "Witness",
    witness_key: "Public key",
    last_cosignature: "Last cosignature",
    never: "never",
    anchors: "Anchors on the chain",
    no_anchors: "No checkpoint has been anchored yet.",
    anchor_block: "Block",
    anchor_tx: "Transaction",
    alarms: "Integrity alarms",
    no_alarms: "No integrity alarms.",
    alarm_kind: "Kind",
    alarm_detail: "Detail",
    how_to_verify: "Check it yourself",
    how_to_verify_steps: [
        "Fetch the keys: /ledger/keys lists the log's key, each witness's key and the quorum. Compare them with the keys the witnesses publish themselves.",
        "Fetch the checkpoint (/ledger/checkpoint) and the tiles under /ledger/tile/: they follow the C2SP tlog-tiles specification, so any tlog client can rebuild and check the tree.",
        "For one entry, download its proof bundle (/ledger/bundle/ followed by its number) and run: onecity verify --keys keys.txt bundle.json",
        "Compare the checkpoint hash with the anchor transaction on the chain.",
    ],
    log_key: "Log key",
};

pub const ZH: Messages = Messages {
    skip_to_content: "跳到正文",
    footer: "onecity — 您的数据，您的城市，每次使用都有记录。",
    nav_label: "主导航",
    nav_my_city: "我的城市",
    nav_city: "城市概览",
    nav_permissions: "授权管理",
    nav_data_use: "数据使用记录",
    nav_console: "机构控制台",
    nav_transparency: "公开透明",
    sign_in: "登录",
    sign_out: "退出登录",
    language: "语言",
    loading: "加载中…",
    error_generic: "出了点问题，请重试。",
    sign_in_needed: "请先登录再查看此页。",
    not_found_title: "页面不存在",
    back_to_city: "返回城市首页",

    welcome_title: "欢迎来到 onecity",
    welcome_lead: "一人一城：登录后，您看到的城市由您选择共享的数据构成——每一次使用都有记录和证明。",
    districts: "城区",
    city_map: "城市地图",
    city_map_desc: "根据城市公开地图数据绘制的各城区。",
    services_catalogue: "城市服务",
    services_catalogue_lead: "每项服务都写明需要哪些数据、用途和期限。未经您同意，不会共享任何数据。",
    notices: "通知公告",
    no_notices: "目前没有通知。",
    citywide: "全市",

    no_district: "尚未设置您所在的区。",
    your_services: "您已开通的服务",
    your_services_lead: "根据您选择共享的数据生成。每张卡片在填充前都会对照城市账本进行验证。",
    no_services_yet: "您还没有开通任何服务。下面的推荐服务写明了各自会使用哪些数据。",
    offers: "您可以开通的服务",
    offers_lead: "在您确认之前不会共享任何数据。之后您可以随时缩小或撤销授权。",
    no_offers: "暂无可开通的新服务。",
    enable: "查看并开通",
    agency: "机构",
    asks_for: "需要的数据",
    purpose: "用途",
    how_long: "最长期限",
    how_often: "读取频率",
    your_district: "您所在的区",
    map_desc: "您所在的区及附近设施。",
    facilities: "附近设施",
    card_pending: "正在等待见证方联署您的授权，通常只需几秒钟。",
    card_verified: "授权已通过账本验证",
    card_integrity: "此授权与账本不一致。已通知城市运维人员，不会共享任何数据。",
    card_manage: "管理授权",
    trips_this_month: "本月出行",
    spent_this_month: "本月花费",
    recent_trips: "最近出行",
    no_trips: "本月没有出行记录。",
    property_titles: "您的房产",
    tax_due: "房产税缴纳期限",
    no_titles: "没有房产登记记录。",
    meter_readings: "电表读数",
    no_readings: "暂无电表读数。",
    clinic_eligible: "您符合免费健康体检条件。",
    clinic_not_eligible: "此服务面向65岁及以上居民，您暂不符合条件。",
    clinic_where: "请前往",
    shared_data: "此服务使用的数据",

    consent_title: "确认共享内容",
    consent_lead: "请查看此服务将看到的内容。在您确认之前不会共享任何数据。",
    consent_who: "谁",
    consent_what: "哪些数据",
    consent_required: "服务所必需",
    consent_optional: "可选——请选择是否提供",
    consent_why: "为什么",
    consent_how_long: "期限",
    consent_how_often: "可读取的频率",
    consent_duration: "共享至",
    consent_confirm: "确认并共享",
    consent_cancel: "取消",
    consent_already: "您已向此服务共享数据。确认后将替换原有授权。",
    consent_retention: "机构保存所读取数据的最长期限",
    consent_not_offered: "此服务目前未开放。",
    sensitivity_low: "低敏感度",
    sensitivity_medium: "中敏感度",
    sensitivity_high: "高敏感度",

    permissions_title: "授权管理",
    permissions_lead: "您给出的每一项授权，都由您自己的浏览器对照城市账本及其见证方进行核验。",
    no_grants: "您还没有给出任何授权。",
    new_grant_pending: "您的授权已记录，见证方联署后即生效。",
    new_grant_active: "您的授权已生效。",
    check_again: "再次查看",
    window: "有效期",
    scopes: "数据",
    state: "状态",
    state_pending: "待生效",
    state_active: "有效",
    state_expired: "已过期",
    state_revoked: "已撤销",
    state_replaced: "已替换",
    state_unknown: "未知",
    revoke: "撤销",
    revoked_done: "已撤销。机构下一次读取将被拒绝。",
    narrow: "减少共享",
    narrow_keep: "继续共享",
    extend: "延长",
    extend_to: "新的截止日期",
    history: "历史",
    replaced_by_newer: "已被新的授权替换",
    download_proof: "下载证明",
    badge_needs_js: "此处未核验证明（需要 JavaScript）。请下载后运行 onecity verify。",
    badge_verifying: "正在核验证明…",
    badge_not_cosigned: "尚未联署",
    badge_failed: "证明核验失败",
    badge_keys_changed: "账本密钥与您首次核验时不同，请在“公开透明”页面比对。",
    badge_status_revoked: "已验证：账本中已撤销",
    badge_status_expired: "已验证：已过期",

    data_use_title: "数据使用记录",
    data_use_lead: "每次机构读取您的数据：谁、读了什么、为什么、何时。每条记录都附有可下载核验的证明。",
    filter: "筛选",
    filter_agency: "机构",
    filter_scope: "数据",
    filter_from: "起始日期",
    filter_to: "截止日期",
    filter_any: "全部",
    filter_apply: "应用",
    filter_clear: "清除筛选",
    reads_over_time: "读取次数趋势",
    no_receipts: "此期间没有机构读取您的数据。",
    col_when: "时间",
    col_who: "读取方",
    col_service: "服务",
    col_scopes: "数据",
    col_purpose: "用途",
    col_proof: "证明",
    col_day: "日期",
    col_reads: "次数",

    console_title: "机构控制台",
    console_lead: "本机构的服务、居民给出的授权，以及经由关口的数据读取。",
    console_services: "服务",
    console_no_services: "本机构还没有服务。",
    console_status_draft: "草稿",
    console_status_published: "已发布",
    console_status_withdrawn: "已下线",
    console_version: "版本",
    console_new_service: "新建服务",
    console_slug: "简称（slug）",
    console_slug_hint: "小写字母、数字和连字符，例如 parking-permit。",
    console_create: "创建草稿",
    console_publish: "发布版本",
    console_publish_title: "发布新版本",
    console_name_en: "名称（英文）",
    console_name_zh: "名称（中文）",
    console_description_en: "说明（英文）",
    console_description_zh: "说明（中文）",
    console_category: "类别",
    console_required: "必需",
    console_optional: "可选",
    console_not_asked: "不需要",
    console_retention: "保存期限（天）",
    console_access_mode: "读取方式",
    console_mode_one_off: "仅一次",
    console_mode_recurring: "每天限次",
    console_mode_ongoing: "持续",
    console_per_day: "每天读取次数",
    console_withdraw: "下线服务",
    console_grants: "授权",
    console_no_grants: "还没有居民授权此服务。",
    console_pseudonym: "化名",
    console_query: "经由关口读取",
    console_query_lead: "关口先对照账本核验居民的授权，并在返回任何数据之前写入一条居民可见的回执。",
    console_run: "读取",
    console_denied: "已拒绝",
    console_released: "已放行",
    console_receipt: "回执",
    console_open: "打开",

    deny_no_grant: "该居民没有授权此服务。",
    deny_pending: "授权尚未经见证方联署。",
    deny_expired: "授权已过期。",
    deny_revoked: "居民已撤销授权。",
    deny_scope: "所请求的数据不在授权范围内。",
    deny_frequency: "授权当前不允许再次读取。",
    deny_integrity: "授权与账本不一致，已通知运维人员。",

    transparency_title: "公开透明",
    transparency_lead: "城市账本记录每一项服务、授权和读取。独立见证方对其联署，检查点还锚定在公共区块链上，任何人都可以核查记录未被篡改。",
    checkpoint: "当前检查点",
    no_checkpoint: "尚无经联署的检查点。",
    tree_size: "条目数",
    root_hash: "根哈希",
    cosigned_at: "联署时间",
    signed_note: "已签名的检查点及其联署",
    witnesses: "见证方",
    witness: "见证方",
    witness_key: "公钥",
    last_cosignature: "最近一次联署",
    never: "从未",
    anchors: "链上锚定",
    no_anchors: "尚无检查点被锚定。",
    anchor_block: "区块",
    anchor_tx: "交易",
    alarms: "完整性告警",
    no_alarms: "没有完整性告警。",
    alarm_kind: "类型",
    alarm_detail: "详情",
    how_to_verify: "自行核验",
    how_to_verify_steps: [
        "获取密钥：/ledger/keys 列出账本密钥、各见证方的密钥和法定人数。请与见证方自行公布的密钥比对。",
        "获取检查点（/ledger/checkpoint）和 /ledger/tile/ 下的瓦片：它们遵循 C2SP tlog-tiles 规范，任何 tlog 客户端都能重建并核验整棵树。",
        "针对某一条目，下载其证明包（/ledger/bundle/ 后接条目编号），然后运行：onecity verify --keys keys.txt bundle.json",
        "将检查点哈希与链上的锚定交易进行比对。",
    ],
    log_key: "账本密钥",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(Locale::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Some(Locale::Zh));
        assert_eq!(Locale::from_accept_language("fr-FR, en-GB;q=0.7, zh;q=0.9"), Some(Locale::Zh));
        assert_eq!(Locale::from_accept_language("de, en;q=0.5"), Some(Locale::En));
        assert_eq!(Locale::from_accept_language("zh;q=0, fr"), None);
        assert_eq!(Locale::from_accept_language(""), None);
    }

    #[test]
    fn dates_numbers_and_money_follow_the_language_in_the_city_zone() {
        // 20:30 UTC is 04:30 the next day in the city.
        assert_eq!(Locale::En.date_time("2026-11-24T20:30:00Z"), "25 Nov 2026 04:30");
        assert_eq!(Locale::Zh.date("2026-11-24T20:30:00Z"), "2026年11月25日");
        assert_eq!(Locale::En.number(1_234_567), "1,234,567");
        assert_eq!(Locale::En.number(-999), "-999");
        assert_eq!(Locale::En.money(123_450), "¥1,234.50");
        assert_eq!(Locale::Zh.money(305), "3.05元");
        assert_eq!(Locale::En.date("not a date"), "not a date");
    }
}
