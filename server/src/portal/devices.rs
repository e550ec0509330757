//! The server's side of `app::serverfns::devices`: a resident's devices with their latest
//! readings, registration from the portal, and suspension, resumption and retirement.

use std::sync::Arc;

use app::error::ssr::internal;
use app::serverfns::devices::NewRule as RuleForm;
use app::serverfns::devices::ssr::{Devices, NewDeviceForm, fail};
use app::serverfns::devices::{AppError, DeviceView, DevicesView, FiringView, ReadingView, RuleView};
use sqlx::PgPool;
use uuid::Uuid;

use crate::clock::rfc3339;
use crate::domain::devices::{self, Change, Device, DeviceError, KINDS, NewDevice};
use crate::domain::pseudonym::PseudonymKey;
use crate::domain::rules::{self, CITY_UTC_OFFSET_MINUTES, COMMANDS, NewRule, RuleInfo};

/// Readings shown per device.
const READINGS_SHOWN: i64 = 50;

pub struct DeviceService {
    db: PgPool,
    key: Arc<PseudonymKey>,
}

impl DeviceService {
    #[must_use]
    pub fn new(db: PgPool, key: Arc<PseudonymKey>) -> Self {
        Self { db, key }
    }

    async fn view(&self, holder: Uuid, d: Device) -> Result<DeviceView, AppError> {
        // Checkable once a quorum checkpoint covers the registration and the newest change
        // (before that the cosigned state is still the previous one).
        let provable = sqlx::query_scalar!(
            r#"with entries as (
                   select e.leaf_index from device d join ledger_entry e on e.ledger_entry_id = d.registered_entry_id
                   where d.device_id = $1
                   union all
                   select e.leaf_index from device_event x join ledger_entry e using (ledger_entry_id)
                   where x.device_id = $1)
               select bool_and(leaf_index is not null)
                      and exists (select 1 from ledger_checkpoint
                                  where quorum_at is not null and tree_size > (select max(leaf_index) from entries))
                      as "provable!"
               from entries"#,
            d.device_id
        )
        .fetch_one(&self.db)
        .await
        .map_err(internal)?;
        // The device's readings (whoever held it then is not shown: only the current holder
        // sees this page, and only readings stored under them).
        let readings = sqlx::query!(
            r#"select occurred_at, data,
                      exists (select 1 from sealed_reading s
                              where s.device_id = $1 and s.counter = (data->>'counter')::bigint) as "sealed!"
               from behavioral_record
               where resident_id = (select resident_id from device where device_id = $1)
                 and scope_key = $2 and data->>'device' = $3
               order by occurred_at desc limit $4"#,
            d.device_id,
            devices::scope_of(&d.kind),
            d.device_id.to_string(),
            READINGS_SHOWN
        )
        .fetch_all(&self.db)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|r| ReadingView {
            at: rfc3339(r.occurred_at),
            metric: r.data["metric"].as_str().unwrap_or_default().to_owned(),
            value: r.data["value"].as_i64().unwrap_or_default(),
            counter: r.data["counter"].as_u64().unwrap_or_default(),
            sealed: r.sealed,
        })
        .collect();
        Ok(DeviceView {
            device_id: d.device_id,
            label: d.label,
            kind: d.kind,
            brand: d.brand,
            model: d.model,
            serial: d.serial,
            public_key: d.public_key,
            state: d.state,
            registered_at: rfc3339(d.registered_at),
            provable,
            readings,
            transfer_until: devices::open_offer(&self.db, holder, d.device_id).await.map_err(refused)?.map(rfc3339),
            transfer_code: None,
        })
    }
}

fn invalid(field: &str, problem: impl Into<String>) -> AppError {
    fail(AppError::Invalid { field: field.into(), problem: problem.into() })
}

fn minutes(field: &str, text: &str) -> Result<u16, AppError> {
    rules::time_of_day(text).ok_or_else(|| invalid(field, format!("{text:?} is not a time of day (HH:MM)")))
}

fn rule_view(r: RuleInfo) -> RuleView {
    RuleView {
        rule_id: r.rule_id,
        trigger_label: r.trigger_label,
        action_label: r.action_label,
        metric: r.metric,
        comparison: r.comparison,
        threshold: r.threshold,
        command: r.command,
        notify: r.notify,
        window: r.window.map(|(s, e)| (rules::hh_mm(s), rules::hh_mm(e))),
        valid_until: rfc3339(r.valid_until),
        state: super::views::state(r.state),
        leaf_index: r.leaf_index,
        firings: r
            .firings
            .into_iter()
            .map(|f| FiringView {
                fired_at: rfc3339(f.fired_at),
                trigger_counter: f.trigger_counter,
                command: f.command,
                delivered_at: f.delivered_at.map(rfc3339),
                leaf_index: f.leaf_index,
            })
            .collect(),
    }
}

/// A refusal in the app's terms: the field at fault, or the conflict.
fn refused(e: DeviceError) -> AppError {
    match e {
        DeviceError::NotFound(_) => fail(AppError::NotFound("device".into())),
        DeviceError::RuleNotFound(_) => fail(AppError::NotFound("rule".into())),
        DeviceError::Invalid { field, problem } => fail(AppError::Invalid { field: field.into(), problem }),
        DeviceError::KeyInUse => {
            fail(AppError::Invalid { field: "public_key".into(), problem: DeviceError::KeyInUse.to_string() })
        }
        DeviceError::SerialInUse => {
            fail(AppError::Invalid { field: "serial".into(), problem: DeviceError::SerialInUse.to_string() })
        }
        e @ (DeviceError::WrongState { .. } | DeviceError::SameOwner | DeviceError::RuleRevoked) => {
            fail(AppError::Conflict(e.to_string()))
        }
        DeviceError::Other(e) => internal(format!("{e:#}")),
    }
}

#[async_trait::async_trait]
impl Devices for DeviceService {
    async fn devices(&self, resident: Uuid) -> Result<DevicesView, AppError> {
        let mut out = Vec::new();
        for d in devices::list(&self.db, resident).await.map_err(refused)? {
            out.push(self.view(resident, d).await?);
        }
        let rules = rules::list(&self.db, resident).await.map_err(refused)?.into_iter().map(rule_view).collect();
        Ok(DevicesView {
            devices: out,
            kinds: KINDS.iter().map(|(k, _)| (*k).to_owned()).collect(),
            rules,
            commands: COMMANDS
                .iter()
                .map(|(k, c)| ((*k).to_owned(), c.iter().map(|c| (*c).to_owned()).collect()))
                .collect(),
        })
    }

    async fn register(&self, resident: Uuid, form: NewDeviceForm) -> Result<DeviceView, AppError> {
        let invalid_key = || {
            fail(AppError::Invalid { field: "public_key".into(), problem: "must be 64 hex digits (32 bytes)".into() })
        };
        let public_key: [u8; 32] =
            hex::decode(form.public_key.trim()).ok().and_then(|k| k.try_into().ok()).ok_or_else(invalid_key)?;
        let new = NewDevice {
            label: form.label,
            kind: form.kind,
            brand: form.brand,
            model: form.model,
            serial: form.serial,
            public_key,
        };
        let d = devices::register(&self.db, &self.key, resident, &new, "resident").await.map_err(refused)?;
        tracing::info!(device = %d.device_id, kind = %d.kind, "device registered by its resident");
        self.view(resident, d).await
    }

    async fn change(
        &self,
        resident: Uuid,
        device: Uuid,
        change: String,
        reason: String,
    ) -> Result<DeviceView, AppError> {
        let change = match change.as_str() {
            "suspend" => Change::Suspend,
            "resume" => Change::Resume,
            "retire" => Change::Retire,
            other => {
                return Err(fail(AppError::Invalid {
                    field: "change".into(),
                    problem: format!("{other:?} is not one of suspend, resume, retire"),
                }));
            }
        };
        let d = devices::change_state(&self.db, &self.key, resident, device, change, &reason, "resident")
            .await
            .map_err(refused)?;
        self.view(resident, d).await
    }

    async fn create_rule(&self, resident: Uuid, form: RuleForm) -> Result<Uuid, AppError> {
        let threshold: i64 =
            form.threshold.trim().parse().map_err(|_| invalid("threshold", "must be a whole number, e.g. 1"))?;
        let valid_days: u32 =
            form.valid_days.trim().parse().map_err(|_| {
                invalid("valid_days", format!("must be a number of days, 1 to {}", rules::MAX_RULE_DAYS))
            })?;
        let notify = form.notify();
        // An empty time field is "not given": both given, or neither for all day.
        fn given(t: Option<&str>) -> Option<&str> {
            t.map(str::trim).filter(|t| !t.is_empty())
        }
        let window = match (given(form.window_start.as_deref()), given(form.window_end.as_deref())) {
            (None, None) => None,
            (Some(s), Some(e)) => Some((minutes("window_start", s)?, minutes("window_end", e)?)),
            _ => return Err(invalid("window", "give both the start and the end, or neither for all day")),
        };
        let new = NewRule {
            trigger: form.trigger,
            metric: form.metric,
            comparison: form.comparison,
            threshold,
            action: form.action,
            command: form.command,
            notify,
            window,
            valid_days,
        };
        let rule =
            rules::create(&self.db, &self.key, resident, &new, CITY_UTC_OFFSET_MINUTES).await.map_err(refused)?;
        tracing::info!(%rule, "rule made by its resident");
        Ok(rule)
    }

    async fn offer_transfer(&self, resident: Uuid, device: Uuid) -> Result<String, AppError> {
        let offer = devices::offer_transfer(&self.db, resident, device).await.map_err(refused)?;
        tracing::info!(%device, "transfer offered by its holder");
        Ok(offer.code)
    }

    async fn cancel_transfer(&self, resident: Uuid, device: Uuid) -> Result<(), AppError> {
        devices::cancel_transfer(&self.db, resident, device).await.map_err(refused)
    }

    async fn claim(&self, resident: Uuid, code: String) -> Result<DeviceView, AppError> {
        let d = devices::claim(&self.db, &self.key, resident, &code).await.map_err(refused)?;
        tracing::info!(device = %d.device_id, "device claimed by its new holder");
        self.view(resident, d).await
    }

    async fn revoke_rule(&self, resident: Uuid, rule: Uuid) -> Result<(), AppError> {
        rules::revoke(&self.db, &self.key, resident, rule).await.map_err(refused)?;
        tracing::info!(%rule, "rule revoked by its resident");
        Ok(())
    }
}
