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

mod en;
mod messages;
mod zh;

pub use en::EN;
pub use messages::Messages;
pub use zh::ZH;

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

    /// How far back a service may read, from its published history days.
    #[must_use]
    pub fn history(self, days: i32) -> String {
        match self {
            Self::En if days <= 0 => "Only what happens from the day you agree".to_owned(),
            Self::Zh if days <= 0 => "仅限您同意之日起的数据".to_owned(),
            Self::En => format!("From {} before the day you agree", self.days(i64::from(days))),
            Self::Zh => format!("您同意之日前{}起的数据", self.days(i64::from(days))),
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

    /// A receipt's proof: the grant was active when the read happened, in that checkpoint.
    #[must_use]
    pub fn active_at_read(self, checkpoint_size: u64) -> String {
        match self {
            Self::En => format!("permission active at the time of the read (checkpoint of size {checkpoint_size})"),
            Self::Zh => format!("读取时授权有效（条目数{checkpoint_size}的检查点）"),
        }
    }

    /// A record version's seal, checked in the browser: sealed by `sealed_by` (Unix seconds).
    #[must_use]
    pub fn sealed_on(self, sealed_by: u64, cosigners: usize, anchored: bool) -> String {
        let when = i64::try_from(sealed_by)
            .ok()
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
            .and_then(|t| Some(t.to_offset(UtcOffset::from_hms(CITY_OFFSET_HOURS, 0, 0).ok()?)))
            .map_or_else(|| sealed_by.to_string(), |t| self.date_of(t));
        match (self, anchored) {
            (Self::En, false) => {
                format!("Sealed on the city ledger on {when}, checked by your browser ({cosigners} witnesses)")
            }
            (Self::En, true) => format!(
                "Sealed on the city ledger on {when}, checked by your browser ({cosigners} witnesses, anchored on chain)"
            ),
            (Self::Zh, false) => format!("已于{when}封存于城市账本，已由您的浏览器核验（{cosigners}个见证方）"),
            (Self::Zh, true) => {
                format!("已于{when}封存于城市账本，已由您的浏览器核验（{cosigners}个见证方，已上链锚定）")
            }
        }
    }

    /// An erased record, as the resident's page lists it.
    #[must_use]
    pub fn erased_record(self, scope: &str, requested_by: &str, sealed: i32) -> String {
        let by_operator = requested_by.strip_prefix("operator:");
        match (self, by_operator) {
            (Self::En, None) => format!("{scope}: erased at your request; {sealed} sealed versions now prove nothing"),
            (Self::En, Some(who)) => {
                format!("{scope}: erased by the city operator {who}; {sealed} sealed versions now prove nothing")
            }
            (Self::Zh, None) => format!("{scope}：已应您的要求删除；{sealed}个已封存版本不再证明任何内容"),
            (Self::Zh, Some(who)) => format!("{scope}：已由城市运营方{who}删除；{sealed}个已封存版本不再证明任何内容"),
        }
    }

    /// The label of a confirmation record's field (its JSON key); an unknown key as it is.
    #[must_use]
    pub fn record_field(self, key: &str) -> String {
        let (en, zh) = match key {
            "address" => ("Address", "地址"),
            "share" => ("Share", "份额"),
            "share_percent" => ("Share (%)", "份额（%）"),
            "registered" => ("Registered", "登记日期"),
            "bank" => ("Bank", "银行"),
            "account" => ("Account", "账户"),
            "opened" => ("Opened", "开户日期"),
            "kind" => ("Kind", "类型"),
            "district" => ("District", "区"),
            "area_m2" => ("Area (m²)", "面积（平方米）"),
            "other_party" => ("Other party", "对方号码"),
            "duration_s" => ("Duration (s)", "时长（秒）"),
            "direction" => ("Direction", "方向"),
            "at" => ("Time", "时间"),
            _ => return key.to_owned(),
        };
        self.pick(en, zh).to_owned()
    }

    /// The readings chart's text alternative.
    #[must_use]
    pub fn readings_chart(self, metric: &str, n: usize, lo: i64, hi: i64) -> String {
        match self {
            Self::En => format!("{n} readings of {metric}, from {lo} to {hi}, oldest on the left"),
            Self::Zh => format!("{metric}的{n}个读数，范围{lo}至{hi}，左侧为最早"),
        }
    }

    /// A rule in one sentence: "When Leak sensor reports leak == 1, tell Main valve to close".
    #[must_use]
    pub fn rule_sentence(
        self,
        trigger: &str,
        metric: &str,
        cmp: &str,
        threshold: i64,
        action: &str,
        command: &str,
    ) -> String {
        match self {
            Self::En => format!("When {trigger} reports {metric} {cmp} {threshold}, tell {action} to {command}"),
            Self::Zh => format!("当{trigger}报告 {metric} {cmp} {threshold} 时，通知{action}执行 {command}"),
        }
    }

    /// A device's state in words.
    #[must_use]
    pub fn device_state(self, state: &str) -> String {
        let (en, zh) = match state {
            "active" => ("in service", "使用中"),
            "suspended" => ("suspended: its readings are refused", "已暂停：其读数将被拒绝"),
            "retired" => ("retired", "已停用"),
            _ => return state.to_owned(),
        };
        self.pick(en, zh).to_owned()
    }

    /// A device kind in words; an unknown kind as it is.
    #[must_use]
    pub fn device_kind(self, kind: &str) -> String {
        let (en, zh) = match kind {
            "meter.water" => ("Water meter", "水表"),
            "meter.electricity" => ("Electricity meter", "电表"),
            "meter.gas" => ("Gas meter", "燃气表"),
            "lock.door" => ("Door lock", "门锁"),
            "lock.bike" => ("Bike lock", "自行车锁"),
            "sensor.air" => ("Air sensor", "空气传感器"),
            "sensor.leak" => ("Leak sensor", "漏水传感器"),
            "valve.water" => ("Water valve", "水阀"),
            "light" => ("Light", "灯"),
            _ => return kind.to_owned(),
        };
        self.pick(en, zh).to_owned()
    }

    /// A checkpoint checked by the portal (not the browser).
    #[must_use]
    pub fn cosigned(self, cosigners: usize, size: u64) -> String {
        match self {
            Self::En => format!("cosigned by {cosigners} witnesses, log size {size}"),
            Self::Zh => format!("{cosigners}个见证方联署，账本条目数{size}"),
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
            "requested_by" => ("requester", "申请人"),
            "erased_at" => ("erasure time", "删除时间"),
            "seals" => ("number of seals", "封存数量"),
            "record" => ("record or version", "记录或版本"),
            "device_id" => ("device", "设备"),
            "kind" => ("kind of device", "设备类型"),
            "brand" => ("brand", "品牌"),
            "model" => ("model", "型号"),
            "public_key" => ("key", "公钥"),
            "state" => ("state", "状态"),
            "counter" => ("reading counter", "读数计数器"),
            "metric" => ("measurement", "测量项"),
            "value" => ("value", "数值"),
            "rule" => ("rule", "规则"),
            "command" => ("command", "指令"),
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
