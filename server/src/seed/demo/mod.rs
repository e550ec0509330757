//! The hand-written part of the demo city: the map's districts, the agencies and their
//! services, facilities and notices, and the identity provider's two test residents.

use anyhow::Context;
use sqlx::PgPool;

mod places;
mod services;

pub use self::places::*;
pub use self::services::*;

/// The dev provider's residents (`idp/server.mjs`) with their city records, and two grants by
/// `resident1`, so the gate has something to guard from the first start. Accounts are
/// created as their first sign-in would create them; only when absent.
///
/// # Errors
/// Database errors; a grant the catalogue refuses.
pub async fn seed_residents(
    db: &PgPool,
    issuer: &str,
    key: &crate::domain::pseudonym::PseudonymKey,
) -> anyhow::Result<usize> {
    use serde_json::json;
    use time::{Duration, OffsetDateTime};
    let people = [
        ("resident1", "Li Wei", "zh-CN", "harbor", "1955-04-12", 2_880_000_i64),
        ("resident2", "Maria Santos", "en", "riverside", "1988-09-30", 9_600_000),
    ];
    let mut created = 0;
    let now = OffsetDateTime::now_utc();
    for (i, (subject, name, locale, district, birth, income)) in people.into_iter().enumerate() {
        let mut tx = db.begin().await?;
        // The account and resident may exist already (someone signed in before the seed ran):
        // reuse them, and seed only a resident without a civil record.
        let account = sqlx::query_scalar!(
            r#"with inserted as (
                   insert into account (issuer, subject, display_name, locale, roles)
                   values ($1, $2, $3, $4, '{resident}')
                   on conflict on constraint account_issuer_subject_key do nothing
                   returning account_id)
               select account_id as "account_id!" from inserted
               union all
               select account_id from account where issuer = $1 and subject = $2
               limit 1"#,
            issuer,
            subject,
            name,
            locale
        )
        .fetch_one(&mut *tx)
        .await?;
        let resident = sqlx::query_scalar!(
            r#"with inserted as (
                   insert into resident (account_id, district_id) values ($1, $2)
                   on conflict on constraint resident_account_id_key do nothing
                   returning resident_id)
               select resident_id as "resident_id!" from inserted
               union all
               select resident_id from resident where account_id = $1
               limit 1"#,
            account,
            district
        )
        .fetch_one(&mut *tx)
        .await?;
        let seeded: bool = sqlx::query_scalar!(
            r#"select exists (select 1 from civil_record where resident_id = $1) as "e!""#,
            resident
        )
        .fetch_one(&mut *tx)
        .await?;
        if seeded {
            continue;
        }
        sqlx::query!(
            "update resident set district_id = coalesce(district_id, $2) where resident_id = $1",
            resident,
            district
        )
        .execute(&mut *tx)
        .await?;
        let birth = time::Date::parse(birth, &time::macros::format_description!("[year]-[month]-[day]"))?;
        sqlx::query!(
            "insert into civil_record (resident_id, birth_date, annual_income_cents) values ($1, $2, $3)",
            resident,
            birth,
            income
        )
        .execute(&mut *tx)
        .await?;
        // Two trips a working day for the last 60 days; a meter reading a month.
        let stations = ["Harbor", "Old Town", "Museum", "Riverside", "University", "New East"];
        let trips: Vec<_> = (1..=60_i64)
            .flat_map(|d| {
                // Commute times in the city's time zone (UTC+8).
                let day = (now - Duration::days(d)).to_offset(time::macros::offset!(+8));
                let (a, b) = (stations[(d as usize + i) % 6], stations[(d as usize + i + 2) % 6]);
                [
                    (
                        day.replace_time(time::macros::time!(8:10)),
                        json!({"from": a, "to": b, "fare_cents": 300, "line": "M2"}),
                    ),
                    (
                        day.replace_time(time::macros::time!(18:25)),
                        json!({"from": b, "to": a, "fare_cents": 300, "line": "M2"}),
                    ),
                ]
            })
            .filter(|(t, _)| t.weekday().number_from_monday() <= 5)
            .collect();
        crate::domain::records::add_behavioral(&mut tx, resident, "transit.trips", &trips).await?;
        let readings: Vec<_> = (1..=6_i64)
            .map(|m| {
                (now - Duration::days(30 * m), json!({"meter": "electricity", "kwh": 180 + 7 * m + i as i64 * 40}))
            })
            .collect();
        crate::domain::records::add_behavioral(&mut tx, resident, "utilities.readings", &readings).await?;
        crate::domain::records::add_confirmation(
            &mut tx,
            resident,
            "property.titles",
            &json!({"address": format!("{} Harbor Road, flat {}", 12 + i, 3 + i), "share": 1, "registered": "2009-06-01"}),
        )
        .await?;
        crate::domain::records::add_confirmation(
            &mut tx,
            resident,
            "bank.accounts",
            &json!({"bank": "Harbor City Bank", "account": format!("•••• {}", 4821 + i * 1117), "opened": "2015-03-02"}),
        )
        .await?;
        tx.commit().await?;
        created += 1;
        if subject == "resident1" {
            // Given two months ago: the gate releases only what a grant's window covers, and the
            // demo's agencies should have this resident's recent trips to read.
            let (since, until) = (now - Duration::days(60), now + Duration::days(90));
            let fare = service_id(db, "fare-capping").await?;
            let scopes = ["transit.trips".to_owned(), "residence.district".to_owned()];
            crate::domain::grants::issue_backdated(db, key, resident, fare, &scopes, since, until).await?;
            let clinic = service_id(db, "senior-clinic").await?;
            let age = ["identity.age_over_65".to_owned()];
            crate::domain::grants::issue_backdated(db, key, resident, clinic, &age, since, until).await?;
        }
    }
    Ok(created)
}

async fn service_id(db: &PgPool, slug: &str) -> anyhow::Result<uuid::Uuid> {
    sqlx::query_scalar!("select service_id from service where slug = $1", slug)
        .fetch_optional(db)
        .await?
        .with_context(|| format!("the demo service {slug} is missing"))
}
