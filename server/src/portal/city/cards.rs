//! My City's cards: the gate's checks for each permission, and what each card shows of the
//! resident's own data under its scopes.

use app::error::ssr::internal;
use app::serverfns::city::{CardCheck, CardPart, FacilityView, Reading, Title, Trip};
use app::serverfns::resident::ssr::Residents;
use app::serverfns::resident::{AppError, GrantView};
use sqlx::PgConnection;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::clock::rfc3339;
use crate::domain::gate::{DenyReason, GateError, ReadRequest, Reader};
use crate::domain::records::{self, Range, ScopeData};

use super::CityService;
use super::calendar::{day_start, month_start, next_tax_due};

impl CityService {
    /// The gate's steps 1–4 for the resident's own permission; `None` when the permission no
    /// longer holds (revoked or expired since it was listed): no card. A spent one-off or daily
    /// limit concerns the agency's reads, not whether the permission holds.
    pub(super) async fn check(
        &self,
        conn: &mut PgConnection,
        resident: Uuid,
        g: &GrantView,
    ) -> Result<Option<CardCheck>, AppError> {
        let reader = Reader { agency_id: g.agency_id.clone(), id: "resident".into() };
        let req = ReadRequest {
            service_id: g.service_id,
            pseudonym: self.key.pseudonym(resident, g.service_id),
            scopes: g.scopes.clone(),
            range: Range::default(),
        };
        match self.gate.check(conn, &reader, &req).await {
            Ok(_) | Err(GateError::Denied { reason: DenyReason::FrequencyExceeded, .. }) => {
                Ok(Some(CardCheck::Verified))
            }
            Err(GateError::Denied { reason: DenyReason::Pending, .. }) => Ok(Some(CardCheck::Pending)),
            Err(GateError::Denied { reason: DenyReason::Integrity, .. }) => Ok(Some(CardCheck::Integrity)),
            // Revoked or expired between listing and checking. Not an error of the page (so no
            // error status on it): the card is simply not shown.
            Err(GateError::Denied { .. }) => Ok(None),
            Err(e) => Err(internal(e)),
        }
    }

    /// The cards My City shows for `grants` (the resident's, as listed): each live permission
    /// with the gate's verdict on it, in order.
    pub(super) async fn checks<'g>(
        &self,
        conn: &mut PgConnection,
        resident: Uuid,
        grants: &'g [GrantView],
    ) -> Result<Vec<(&'g GrantView, CardCheck)>, AppError> {
        let mut checks = Vec::new();
        for g in grants.iter().filter(|g| g.state == "active" || g.state == "pending") {
            if let Some(check) = self.check(conn, resident, g).await? {
                checks.push((g, check));
            }
        }
        Ok(checks)
    }

    /// The verdicts My City would show the resident now, without the cards' data: what the
    /// page cache compares, at a newer checkpoint, with those of a page it keeps.
    ///
    /// # Errors
    /// When the database cannot be read or the gate fails (not when it denies).
    pub async fn card_checks(&self, resident: Uuid) -> Result<Vec<(Uuid, CardCheck)>, AppError> {
        let grants = self.residents.grants(resident).await?;
        let mut conn = self.db.acquire().await.map_err(internal)?;
        let checks = self.checks(&mut conn, resident, &grants).await?;
        Ok(checks.into_iter().map(|(g, check)| (g.grant_id, check)).collect())
    }

    /// The card's contents: the resident's own data under the permission's scopes.
    pub(super) async fn parts(
        &self,
        conn: &mut PgConnection,
        resident: Uuid,
        scopes: &[String],
        facilities: &[FacilityView],
    ) -> Result<Vec<CardPart>, AppError> {
        let now = OffsetDateTime::now_utc();
        let mut parts = Vec::new();
        for scope in scopes {
            let range = match scope.as_str() {
                "transit.trips" => (month_start(now), now, i64::from(records::MAX_RECORDS)),
                "utilities.readings" => (day_start(now) - Duration::days(365), now, 12),
                _ => (day_start(now) - Duration::days(30), now, 200),
            };
            let data = records::read(conn, resident, std::slice::from_ref(scope), range)
                .await
                .map_err(|e| internal(format!("{e:#}")))?;
            let Some(data) = data.into_values().next() else { continue };
            parts.push(part(scope, data, now, range.0, facilities));
        }
        Ok(parts)
    }
}

pub(super) fn part(
    scope: &str,
    data: ScopeData,
    now: OffsetDateTime,
    from: OffsetDateTime,
    facilities: &[FacilityView],
) -> CardPart {
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    match (scope, data) {
        ("transit.trips", ScopeData::Behavioral { records, .. }) => {
            let spend = records.iter().map(|r| r.data["fare_cents"].as_i64().unwrap_or(0)).sum();
            let mut recent: Vec<Trip> = records
                .iter()
                .map(|r| Trip {
                    at: rfc3339(r.occurred_at),
                    from: text(&r.data, "from"),
                    to: text(&r.data, "to"),
                    fare_cents: r.data["fare_cents"].as_i64().unwrap_or(0),
                })
                .collect();
            recent.sort_by(|a, b| b.at.cmp(&a.at));
            recent.truncate(3);
            CardPart::Trips { month_start: rfc3339(from), count: records.len() as i64, spend_cents: spend, recent }
        }
        ("property.titles", ScopeData::Confirmation { records }) => CardPart::Titles {
            titles: records
                .iter()
                .map(|r| Title {
                    address: text(&r.data, "address"),
                    registered: text(&r.data, "registered"),
                    tax_due: rfc3339(next_tax_due(now)),
                })
                .collect(),
        },
        ("utilities.readings", ScopeData::Behavioral { records, .. }) => {
            let mut readings: Vec<Reading> = records
                .iter()
                .filter(|r| r.data["kwh"].is_number())
                .map(|r| Reading {
                    at: rfc3339(r.occurred_at),
                    meter: text(&r.data, "meter"),
                    kwh: r.data["kwh"].as_i64().unwrap_or(0),
                })
                .collect();
            readings.sort_by(|a, b| a.at.cmp(&b.at));
            CardPart::Readings { readings }
        }
        ("identity.age_over_65", ScopeData::Predicate { value }) => CardPart::Eligibility {
            eligible: value.as_bool(),
            clinic: facilities.iter().find(|f| f.kind == "clinic").cloned(),
        },
        (scope, _) => CardPart::Other { scope: scope.to_owned() },
    }
}
