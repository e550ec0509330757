//! Linkage rules between a resident's devices (docs/devices.md "Rules"): "when my leak sensor
//! reports `leak == 1`, close my valve and tell me". A rule is a grant from one device to
//! another (`rule.granted`, chain `leaf::Rule`): pending until a quorum checkpoint covers it,
//! checked by the gate against that checkpoint before every action, stopped at once by a
//! revocation. Each action is a `rule.fired` receipt in the same transaction as the reading
//! that caused it; the action device collects its commands in the answer to its own signed
//! readings.

use chain::GrantId;
use chain::device::SignedReading;
use chain::leaf::{CheckpointRef, Comparison, DayWindow, DeviceId, Event, Firing, Rule};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::devices::{DeviceError, REGISTRY};
use super::gate::{DenyReason, Gate, GateError, deny};
use super::grants::{GrantState, state_of};
use super::pseudonym::PseudonymKey;
use crate::clock::{now_s, unix};

/// What each kind of device can be told to do. Other kinds only trigger.
pub const COMMANDS: &[(&str, &[&str])] = &[
    ("valve.water", &["close", "open"]),
    ("light", &["on", "off"]),
    ("lock.door", &["lock", "unlock"]),
    ("lock.bike", &["lock", "unlock"]),
];
/// The city's local time as an offset from UTC, in which rule windows are read (the demo city
/// keeps UTC+8, without daylight saving). A city elsewhere sets its own here; the offset is
/// recorded in each rule's leaf, so a change never moves an existing rule's window.
pub const CITY_UTC_OFFSET_MINUTES: i16 = 480;
/// Longest validity a rule may ask for, in days.
pub const MAX_RULE_DAYS: u32 = 3650;
/// Firings shown per rule.
const FIRINGS_SHOWN: i64 = 20;

/// The commands a kind of device accepts (empty: it cannot act).
#[must_use]
pub fn commands_of(kind: &str) -> &'static [&'static str] {
    COMMANDS.iter().find(|(k, _)| *k == kind).map_or(&[], |(_, c)| c)
}

/// A rule as the resident asks for it.
#[derive(Clone, Debug)]
pub struct NewRule {
    pub trigger: Uuid,
    pub metric: String,
    pub comparison: String,
    pub threshold: i64,
    pub action: Uuid,
    pub command: String,
    pub notify: bool,
    /// Local minutes after midnight, start and end; `None`: all day.
    pub window: Option<(u16, u16)>,
    pub valid_days: u32,
}

/// `HH:MM` (as a `type=time` input sends it, seconds allowed) to minutes after midnight.
#[must_use]
pub fn time_of_day(text: &str) -> Option<u16> {
    let mut parts = text.trim().split(':');
    let h: u16 = parts.next()?.parse().ok()?;
    let m: u16 = parts.next()?.parse().ok()?;
    let seconds_ok = parts.next().is_none_or(|s| s.parse::<u8>().is_ok_and(|s| s < 60));
    (h < 24 && m < 60 && seconds_ok && parts.next().is_none()).then_some(h * 60 + m)
}

/// Minutes after midnight as `HH:MM`.
#[must_use]
pub fn hh_mm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn invalid(field: &'static str, problem: impl Into<String>) -> DeviceError {
    DeviceError::Invalid { field, problem: problem.into() }
}

/// A rule as stored: enough to recompute its leaf.
#[derive(Clone, Debug)]
pub(crate) struct RuleRow {
    pub rule_id: Uuid,
    pub resident_id: Uuid,
    pub trigger_device_id: Uuid,
    pub action_device_id: Uuid,
    pub metric: String,
    pub comparison: String,
    pub threshold: i64,
    pub command: String,
    pub notify: bool,
    pub window_start: Option<i16>,
    pub window_end: Option<i16>,
    pub utc_offset_minutes: i16,
    pub valid_from: OffsetDateTime,
    pub valid_until: OffsetDateTime,
    pub leaf_index: Option<i64>,
}

impl RuleRow {
    /// The `rule.granted` leaf as the row says it should be (the owner's pseudonym recomputed
    /// from the resident, never read from a column).
    pub(crate) fn rule(&self, key: &PseudonymKey) -> anyhow::Result<Rule> {
        let comparison = Comparison::from_symbol(&self.comparison)
            .ok_or_else(|| anyhow::anyhow!("comparison {:?} is not one the ledger knows", self.comparison))?;
        let window = match (self.window_start, self.window_end) {
            (Some(s), Some(e)) => Some(DayWindow {
                start: u16::try_from(s)?,
                end: u16::try_from(e)?,
                utc_offset_minutes: self.utc_offset_minutes,
            }),
            _ => None,
        };
        Ok(Rule {
            rule_id: GrantId(*self.rule_id.as_bytes()),
            owner: key.pseudonym(self.resident_id, REGISTRY),
            trigger: DeviceId(*self.trigger_device_id.as_bytes()),
            metric: self.metric.clone(),
            comparison,
            threshold: self.threshold,
            action_device: DeviceId(*self.action_device_id.as_bytes()),
            command: self.command.clone(),
            notify: self.notify,
            window,
            valid_from: unix(self.valid_from)?,
            valid_until: unix(self.valid_until)?,
        })
    }
}

/// Devices of the resident, locked, with their kind and state.
async fn own_device(conn: &mut PgConnection, resident: Uuid, device: Uuid) -> Result<(String, String), DeviceError> {
    let r = sqlx::query!(
        "select kind, state from device where device_id = $1 and resident_id = $2 for share",
        device,
        resident
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(DeviceError::NotFound(device))?;
    Ok((r.kind, r.state))
}

/// Links two of the resident's devices: the rule's row and its `rule.granted` entry in one
/// transaction. Both devices must be the resident's and in service, and the action device must
/// accept the command. `utc_offset_minutes` is the city's local time, in which the window is.
///
/// # Errors
/// [`DeviceError::Invalid`] naming the field; [`DeviceError::NotFound`] for a device that is
/// not the resident's; [`DeviceError::WrongState`] for one out of service.
pub async fn create(
    db: &PgPool,
    key: &PseudonymKey,
    resident_id: Uuid,
    new: &NewRule,
    utc_offset_minutes: i16,
) -> Result<Uuid, DeviceError> {
    if new.trigger == new.action {
        return Err(invalid("action", "choose a different device from the trigger"));
    }
    let comparison = Comparison::from_symbol(&new.comparison)
        .ok_or_else(|| invalid("comparison", format!("{:?} is not one of == != > >= < <=", new.comparison)))?;
    let metric = new.metric.trim();
    if chain::leaf::Event::RuleGranted(Rule {
        rule_id: GrantId([0; 16]),
        owner: chain::Pseudonym([0; 32]),
        trigger: DeviceId([0; 16]),
        metric: metric.to_owned(),
        comparison,
        threshold: 0,
        action_device: DeviceId([1; 16]),
        command: "x".into(),
        notify: false,
        window: None,
        valid_from: 0,
        valid_until: 1,
    })
    .encode()
    .is_err()
    {
        return Err(invalid("metric", "use 1 to 64 of a-z 0-9 . _ - (the name the device sends, e.g. leak)"));
    }
    if new.valid_days == 0 || new.valid_days > MAX_RULE_DAYS {
        return Err(invalid("valid_days", format!("must be 1 to {MAX_RULE_DAYS} days")));
    }
    if let Some((s, e)) = new.window {
        if s >= chain::leaf::MINUTES_PER_DAY || e >= chain::leaf::MINUTES_PER_DAY {
            return Err(invalid("window", "times are between 00:00 and 23:59"));
        }
        if s == e {
            return Err(invalid("window", "the start and end must differ (leave both empty for all day)"));
        }
    }
    let mut tx = db.begin().await?;
    let (_, trigger_state) = own_device(&mut tx, resident_id, new.trigger).await?;
    let (action_kind, action_state) = own_device(&mut tx, resident_id, new.action).await?;
    for state in [trigger_state, action_state] {
        if state != "active" {
            return Err(DeviceError::WrongState { state, wanted: "linked" });
        }
    }
    let allowed = commands_of(&action_kind);
    if !allowed.contains(&new.command.as_str()) {
        let problem = if allowed.is_empty() {
            format!("a {action_kind} cannot be told to act; choose a valve, a light or a lock")
        } else {
            format!("{:?} is not something a {action_kind} does ({})", new.command, allowed.join(", "))
        };
        return Err(invalid("command", problem));
    }
    let from = now_s();
    let row = RuleRow {
        rule_id: Uuid::new_v4(),
        resident_id,
        trigger_device_id: new.trigger,
        action_device_id: new.action,
        metric: metric.to_owned(),
        comparison: comparison.symbol().to_owned(),
        threshold: new.threshold,
        command: new.command.clone(),
        notify: new.notify,
        window_start: new.window.map(|(s, _)| i16::try_from(s)).transpose().map_err(anyhow::Error::from)?,
        window_end: new.window.map(|(_, e)| i16::try_from(e)).transpose().map_err(anyhow::Error::from)?,
        utc_offset_minutes,
        valid_from: from,
        valid_until: from + time::Duration::days(i64::from(new.valid_days)),
        leaf_index: None,
    };
    let event = Event::RuleGranted(row.rule(key)?);
    let entry = crate::ledger::enqueue(&mut tx, &event).await?;
    sqlx::query!(
        // language=PostgreSQL
        r#"insert into device_rule (rule_id, resident_id, trigger_device_id, action_device_id, metric, comparison,
                                    threshold, command, notify, window_start, window_end, utc_offset_minutes,
                                    valid_from, valid_until, granted_entry_id)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"#,
        row.rule_id,
        resident_id,
        row.trigger_device_id,
        row.action_device_id,
        row.metric,
        row.comparison,
        row.threshold,
        row.command,
        row.notify,
        row.window_start,
        row.window_end,
        row.utc_offset_minutes,
        row.valid_from,
        row.valid_until,
        entry
    )
    .execute(&mut *tx)
    .await?;
    super::devices::touch(&mut tx, &[resident_id]).await?;
    tx.commit().await?;
    Ok(row.rule_id)
}

/// Revokes one of the resident's rules: its revocation row and a `grant.revoked` entry in
/// one transaction. From the commit on, the rule fires no more and its undelivered commands
/// are withheld, before the revocation is cosigned.
///
/// # Errors
/// [`DeviceError::RuleNotFound`] for a rule that is not the resident's;
/// [`DeviceError::RuleRevoked`] for one already revoked.
pub async fn revoke(db: &PgPool, key: &PseudonymKey, resident_id: Uuid, rule_id: Uuid) -> Result<(), DeviceError> {
    let mut tx = db.begin().await?;
    revoke_in(&mut tx, key, resident_id, rule_id).await?;
    super::devices::touch(&mut tx, &[resident_id]).await?;
    tx.commit().await?;
    Ok(())
}

/// [`revoke`] in the caller's transaction (without moving the resident's data version).
pub(crate) async fn revoke_in(
    tx: &mut PgConnection,
    key: &PseudonymKey,
    resident_id: Uuid,
    rule_id: Uuid,
) -> Result<(), DeviceError> {
    let revoked = sqlx::query_scalar!(
        r#"select exists (select 1 from device_rule_revocation v where v.rule_id = r.rule_id) as "revoked!"
           from device_rule r where r.rule_id = $1 and r.resident_id = $2 for update"#,
        rule_id,
        resident_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(DeviceError::RuleNotFound(rule_id))?;
    if revoked {
        return Err(DeviceError::RuleRevoked);
    }
    let at = now_s();
    let event = Event::GrantRevoked {
        grant_id: GrantId(*rule_id.as_bytes()),
        resident: key.pseudonym(resident_id, REGISTRY),
        revoked_at: unix(at)?,
    };
    let entry = crate::ledger::enqueue(&mut *tx, &event).await?;
    sqlx::query!(
        "insert into device_rule_revocation (rule_id, revoked_at, ledger_entry_id) values ($1, $2, $3)",
        rule_id,
        at,
        entry
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Revokes every rule of `resident_id` that involves `device_id` (a device leaving their
/// hands), in the caller's transaction; how many.
///
/// # Errors
/// Database errors.
pub(crate) async fn revoke_for_device(
    tx: &mut PgConnection,
    key: &PseudonymKey,
    resident_id: Uuid,
    device_id: Uuid,
) -> Result<usize, DeviceError> {
    let live = sqlx::query_scalar!(
        "select r.rule_id from device_rule r
         where r.resident_id = $1 and (r.trigger_device_id = $2 or r.action_device_id = $2)
           and not exists (select 1 from device_rule_revocation v where v.rule_id = r.rule_id)
         order by r.rule_id",
        resident_id,
        device_id
    )
    .fetch_all(&mut *tx)
    .await?;
    for rule in &live {
        revoke_in(tx, key, resident_id, *rule).await?;
    }
    Ok(live.len())
}

/// One action a rule caused.
#[derive(Clone, Debug, Serialize)]
pub struct FiringInfo {
    #[serde(with = "time::serde::rfc3339")]
    pub fired_at: OffsetDateTime,
    pub trigger_counter: i64,
    pub command: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    /// Log index of the `rule.fired` receipt, once sequenced.
    pub leaf_index: Option<i64>,
}

/// A rule as its resident sees it.
#[derive(Clone, Debug, Serialize)]
pub struct RuleInfo {
    pub rule_id: Uuid,
    pub trigger_device_id: Uuid,
    pub trigger_label: String,
    pub action_device_id: Uuid,
    pub action_label: String,
    pub metric: String,
    pub comparison: String,
    pub threshold: i64,
    pub command: String,
    pub notify: bool,
    pub window: Option<(u16, u16)>,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_until: OffsetDateTime,
    pub state: GrantState,
    pub leaf_index: Option<i64>,
    pub firings: Vec<FiringInfo>,
}

/// The resident's rules, newest first, each with its latest firings.
///
/// # Errors
/// Database errors.
pub async fn list(db: &PgPool, resident_id: Uuid) -> Result<Vec<RuleInfo>, DeviceError> {
    let rows = sqlx::query!(
        // language=PostgreSQL
        r#"select r.rule_id, r.trigger_device_id, t.label as trigger_label, r.action_device_id, a.label as action_label,
                  r.metric, r.comparison, r.threshold, r.command, r.notify, r.window_start, r.window_end,
                  r.valid_until, e.leaf_index as "leaf_index?", v.rule_id is not null as "revoked!",
                  (select coalesce(max(tree_size), 0) from ledger_checkpoint where quorum_at is not null) as "quorum!"
           from device_rule r
           join device t on t.device_id = r.trigger_device_id
           join device a on a.device_id = r.action_device_id
           join ledger_entry e on e.ledger_entry_id = r.granted_entry_id
           left join device_rule_revocation v on v.rule_id = r.rule_id
           where r.resident_id = $1
           order by r.created_at desc, r.rule_id"#,
        resident_id
    )
    .fetch_all(db)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.rule_id).collect();
    // Every rule's latest firings in one query.
    let firings = sqlx::query!(
        r#"select f.rule_id, f.fired_at, f.trigger_counter, f.command, f.delivered_at, e.leaf_index as "leaf_index?"
           from unnest($1::uuid[]) as x(rule_id)
           cross join lateral (select * from device_rule_firing f where f.rule_id = x.rule_id
                               order by f.fired_at desc, f.firing_id desc limit $2) f
           join ledger_entry e on e.ledger_entry_id = f.ledger_entry_id"#,
        &ids,
        FIRINGS_SHOWN
    )
    .fetch_all(db)
    .await?;
    let now = OffsetDateTime::now_utc();
    Ok(rows
        .into_iter()
        .map(|r| RuleInfo {
            state: state_of(r.revoked.then_some("revoked"), r.leaf_index, r.quorum, r.valid_until, now),
            firings: firings
                .iter()
                .filter(|f| f.rule_id == r.rule_id)
                .map(|f| FiringInfo {
                    fired_at: f.fired_at,
                    trigger_counter: f.trigger_counter,
                    command: f.command.clone(),
                    delivered_at: f.delivered_at,
                    leaf_index: f.leaf_index,
                })
                .collect(),
            rule_id: r.rule_id,
            trigger_device_id: r.trigger_device_id,
            trigger_label: r.trigger_label,
            action_device_id: r.action_device_id,
            action_label: r.action_label,
            metric: r.metric,
            comparison: r.comparison,
            threshold: r.threshold,
            command: r.command,
            notify: r.notify,
            window: r.window_start.zip(r.window_end).map(|(s, e)| (s.unsigned_abs(), e.unsigned_abs())),
            valid_until: r.valid_until,
            leaf_index: r.leaf_index,
        })
        .collect())
}

/// A command for an action device, as the answer to its readings carries it.
#[derive(Clone, Debug, Serialize)]
pub struct Command {
    pub firing_id: i64,
    pub rule_id: Uuid,
    pub command: String,
    #[serde(with = "time::serde::rfc3339")]
    pub fired_at: OffsetDateTime,
}

/// Fires the rules whose trigger is `device_id` for the readings just accepted, in the
/// caller's transaction (the one that stores the readings): each match is checked by the gate
/// against the newest quorum checkpoint, then written as a `rule.fired` entry and a firing row.
/// A rule the gate refuses (pending, revoked, an action device out of service or no longer the
/// owner's) does not fire; an integrity failure is an alarm raised by the gate. Returns the
/// number of actions.
///
/// # Errors
/// Storage failures, or rules with no gate to check them (then nothing is stored).
pub(crate) async fn fire(
    conn: &mut PgConnection,
    gate: Option<&Gate>,
    device_id: Uuid,
    owner: Uuid,
    readings: &[SignedReading],
) -> anyhow::Result<usize> {
    let rules = sqlx::query_as!(
        RuleRow,
        // language=PostgreSQL
        r#"select r.rule_id, r.resident_id, r.trigger_device_id, r.action_device_id, r.metric, r.comparison,
                  r.threshold, r.command, r.notify, r.window_start, r.window_end, r.utc_offset_minutes,
                  r.valid_from, r.valid_until, e.leaf_index as "leaf_index?"
           from device_rule r
           join device a on a.device_id = r.action_device_id
           join ledger_entry e on e.ledger_entry_id = r.granted_entry_id
           where r.trigger_device_id = $1 and r.resident_id = $2 and a.resident_id = $2 and a.state = 'active'
             and not exists (select 1 from device_rule_revocation v where v.rule_id = r.rule_id)"#,
        device_id,
        owner
    )
    .fetch_all(&mut *conn)
    .await?;
    if rules.is_empty() {
        return Ok(0);
    }
    let gate =
        gate.ok_or_else(|| anyhow::anyhow!("device {device_id} has rules but there is no gate to check them"))?;
    let key = gate.pseudonyms();
    let now = now_s();
    let now_unix = unix(now)?;
    let mut fired = 0;
    for row in &rules {
        let rule = row.rule(key)?;
        if !(rule.valid_from..rule.valid_until).contains(&now_unix) {
            continue;
        }
        let hits: Vec<&SignedReading> = readings
            .iter()
            .filter(|r| rule.matches(&r.reading.metric, r.reading.value, r.reading.measured_at.min(now_unix)))
            .collect();
        let Some(last) = hits.last() else { continue };
        let verified_at = match gate.check_rule(conn, row, &rule).await {
            Ok(cp) => cp,
            Err(GateError::Denied { reason, message }) => {
                tracing::info!(rule = %row.rule_id, reason = reason.as_str(), "rule not fired: {message}");
                continue;
            }
            Err(GateError::Invalid { problem, .. }) => anyhow::bail!(problem),
            Err(GateError::Internal(e)) => return Err(e),
        };
        // One action per request and rule: a burst of matching readings closes a valve once,
        // for the newest of them.
        let firing = Firing {
            rule_id: rule.rule_id,
            trigger_counter: last.reading.counter,
            reading_hash: chain::Hash::sha256(&last.reading.signing_bytes()?),
            command: rule.command.clone(),
            fired_at: now_unix,
            verified_at,
        };
        let entry = crate::ledger::enqueue(conn, &Event::RuleFired(firing)).await?;
        sqlx::query!(
            "insert into device_rule_firing (rule_id, action_device_id, trigger_counter, command, fired_at,
                                             verified_size, ledger_entry_id)
             values ($1, $2, $3, $4, $5, $6, $7)",
            row.rule_id,
            row.action_device_id,
            i64::try_from(last.reading.counter)?,
            row.command,
            now,
            i64::try_from(verified_at.size)?,
            entry
        )
        .execute(&mut *conn)
        .await?;
        fired += 1;
    }
    Ok(fired)
}

/// The commands waiting for `device_id`, marked delivered, in the caller's transaction (the
/// device proved itself with the signed readings of the same request). A command of a rule
/// revoked since it fired is withheld.
///
/// # Errors
/// Database errors.
pub(crate) async fn collect(conn: &mut PgConnection, device_id: Uuid) -> Result<Vec<Command>, sqlx::Error> {
    sqlx::query_as!(
        Command,
        r#"update device_rule_firing f set delivered_at = now()
           where f.action_device_id = $1 and f.delivered_at is null
             and not exists (select 1 from device_rule_revocation v where v.rule_id = f.rule_id)
           returning f.firing_id, f.rule_id, f.command, f.fired_at"#,
        device_id
    )
    .fetch_all(&mut *conn)
    .await
}

impl Gate {
    /// Checks a rule before it acts, like a grant before a read: the leaf recomputed from its
    /// row, included in the newest quorum checkpoint, and active in that checkpoint's status
    /// map. Returns the checkpoint, for the receipt.
    ///
    /// # Errors
    /// [`GateError::Denied`]: `pending`, `revoked` (the cosigned map says so), `integrity`
    /// (the row does not match the ledger; an alarm is raised).
    pub(crate) async fn check_rule(
        &self,
        conn: &mut PgConnection,
        row: &RuleRow,
        rule: &Rule,
    ) -> Result<CheckpointRef, GateError> {
        let leaf = Event::RuleGranted(rule.clone()).encode().map_err(anyhow::Error::from)?;
        let quorum = super::grants::quorum_size(conn).await?;
        let Some(index) = row.leaf_index.filter(|&i| i < quorum) else {
            return Err(deny(DenyReason::Pending, "the rule is not yet in a quorum-cosigned checkpoint"));
        };
        let verdict = self
            .verify_in_newest(conn, u64::try_from(quorum)?, u64::try_from(index)?, &leaf, rule.rule_id, row.rule_id)
            .await?;
        match verdict.status {
            Some(chain::GrantStatus::Active { .. }) => Ok(verdict.checkpoint),
            Some(chain::GrantStatus::Revoked { .. }) => {
                Err(deny(DenyReason::Revoked, "the rule is revoked in the cosigned status map"))
            }
            None => Err(self.integrity(conn, row.rule_id, "rule absent from the cosigned status map").await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{hh_mm, time_of_day};

    #[test]
    fn times_of_day_as_forms_send_them() {
        assert_eq!(time_of_day("23:00"), Some(1380));
        assert_eq!(time_of_day(" 06:05 "), Some(365));
        assert_eq!(time_of_day("00:00:30"), Some(0));
        for bad in ["24:00", "12:60", "12", "12:00:61", "12:00:00:00", "ab:cd", "", "-1:00"] {
            assert_eq!(time_of_day(bad), None, "{bad:?}");
        }
        assert_eq!(hh_mm(1380), "23:00");
        assert_eq!(hh_mm(365), "06:05");
    }
}
