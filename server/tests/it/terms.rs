//! What the gate relies on, column by column: a service version's published terms (all in its
//! cosigned `service.published` leaf, format v2) and a grant's rows (its `grant.issued` leaf and
//! its place in the log), each edited behind the server's back and refused; districts and
//! declared history enforced.

use app::serverfns::resident::ssr::Residents as _;
use serde_json::{Value, json};
use server::domain::grants::{self, GrantError};
use server::domain::services::{NewVersion, create_service, publish_version};
use server::portal::residents::ResidentService;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

use crate::harness::{City, planner};

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

async fn publish(city: &City, slug: &str, v: &NewVersion) -> Uuid {
    let id = create_service(&city.db, "transit-authority", slug).await.unwrap();
    publish_version(&city.db, id, v).await.unwrap();
    id
}

async fn districts(city: &City) -> Vec<String> {
    sqlx::query_scalar("select district_id from district order by district_id").fetch_all(&city.db).await.unwrap()
}

/// Resolves the open `grant_integrity` alarms, as an operator would, and says how many there
/// were. An alarm stands until resolved (the same one is not raised twice), so a test that
/// resolves after each edit makes every edit raise its own.
async fn resolve_integrity_alarms(city: &City) -> u64 {
    sqlx::query("update ledger_alarm set resolved_at = now() where kind = 'grant_integrity' and resolved_at is null")
        .execute(&city.db)
        .await
        .unwrap()
        .rows_affected()
}

fn fares(body: &Value) -> Vec<i64> {
    body["data"]["transit.trips"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["data"]["fare_cents"].as_i64().unwrap())
        .collect()
}

/// The attack of the integrity issue, and then every other column of `service_version` the gate
/// relies on: each edited on its own with the triggers off, each read refused as `integrity`
/// with an alarm, and the row put back before the next.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_published_term_edited_behind_the_servers_back_is_denied(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    let service = publish(&city, "trip-planner", &planner(vec![], 0)).await;
    let li = city.resident("li").await;
    city.grant(li, service, &["transit.trips"], 30).await;
    city.settle().await;
    let token = city.transit_token().await;
    let path = format!("/api/v1/services/{service}/reads");
    let ask = json!({"pseudonym": city.pseudonym(li, service), "scopes": ["transit.trips"]});
    assert_eq!(city.api_post(&token, &path, &ask).await.0, 200);
    let row: Value = sqlx::query_scalar("select to_jsonb(sv) from service_version sv where service_id = $1")
        .bind(service)
        .fetch_one(&city.db)
        .await
        .unwrap();

    let edits = [
        ("access_mode", "access_mode = 'ongoing', max_reads_per_day = null"),
        ("max_reads_per_day", "max_reads_per_day = 5000"),
        ("name_en", "name_en = 'Free rides'"),
        ("name_zh", "name_zh = '免费乘车'"),
        ("description_en", "description_en = description_en || ' And more.'"),
        ("description_zh", "description_zh = ''"),
        ("category", "category = 'health'"),
        ("purpose", "purpose = 'Anything we like'"),
        ("required_scopes", "required_scopes = '{transit.trips,property.titles}'"),
        ("optional_scopes", "optional_scopes = '{}'"),
        ("retention_days", "retention_days = 3650"),
        ("districts", "districts = '{somewhere-else}'"),
        ("history_days", "history_days = 366"),
        ("leaf_hash", "leaf_hash = sha256('another leaf'::bytea)"),
    ];
    let mut attacker = crate::harness::behind_the_servers_back(&city.db).await;
    for (column, set) in edits {
        sqlx::query(&format!("update service_version set {set} where service_id = $1"))
            .bind(service)
            .execute(&mut attacker)
            .await
            .unwrap();
        let (status, body) = city.api_post(&token, &path, &ask).await;
        assert_eq!((status, body["reason"].as_str()), (403, Some("integrity")), "{column} edited: {body}");
        assert_eq!(resolve_integrity_alarms(&city).await, 1, "{column} edited: a grant_integrity alarm");
        sqlx::query(
            "update service_version sv
             set (name_en, name_zh, description_en, description_zh, category, purpose, required_scopes,
                  optional_scopes, retention_days, districts, access_mode, max_reads_per_day, history_days,
                  leaf_hash)
               = (r.name_en, r.name_zh, r.description_en, r.description_zh, r.category, r.purpose,
                  r.required_scopes, r.optional_scopes, r.retention_days, r.districts, r.access_mode,
                  r.max_reads_per_day, r.history_days, r.leaf_hash)
             from jsonb_populate_record(null::service_version, $1) r
             where sv.service_id = $2",
        )
        .bind(&row)
        .bind(service)
        .execute(&mut attacker)
        .await
        .unwrap();
    }
    // Claiming the version was published in leaf format v1 (which covers fewer terms) does not
    // help: the v1 bytes hash to something else than the leaf hash the grant commits to.
    let downgrade = "update ledger_entry set body = set_byte(body, 0, $2) where ledger_entry_id =
                     (select ledger_entry_id from service_version where service_id = $1)";
    sqlx::query(downgrade).bind(service).bind(1).execute(&mut attacker).await.unwrap();
    let (status, body) = city.api_post(&token, &path, &ask).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("integrity")), "format downgraded: {body}");
    sqlx::query(downgrade).bind(service).bind(2).execute(&mut attacker).await.unwrap();

    // Put back, the terms verify again: the checks above failed for the edit, not for the setup.
    assert_eq!(city.api_post(&token, &path, &ask).await.0, 200);
    let receipts: i64 = sqlx::query_scalar("select count(*) from access_receipt where resident_id = $1")
        .bind(li)
        .fetch_one(&city.db)
        .await
        .unwrap();
    assert_eq!(receipts, 2, "no refused read left a receipt");
    city.shutdown().await;
}

/// A service for one district: offered to, granted by and read for its residents only.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_service_for_some_districts_serves_their_residents_only(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    let all = districts(&city).await;
    let (home, elsewhere) = (all[0].clone(), all[1].clone());
    let local = publish(&city, "local-planner", &planner(vec![home.clone()], 0)).await;
    let remote = publish(&city, "remote-planner", &planner(vec![elsewhere.clone()], 0)).await;
    let nowhere = create_service(&city.db, "transit-authority", "atlantis-planner").await.unwrap();
    let err = publish_version(&city.db, nowhere, &planner(vec!["atlantis".into()], 0)).await.unwrap_err();
    assert!(err.to_string().contains("\"atlantis\" is not a district of this city"), "{err}");
    let li = city.resident("li").await; // lives in `home`
    let residents = ResidentService::new(city.db.clone(), city.portal.state.pseudonyms.clone());

    let offered: Vec<Uuid> = residents.offers(li).await.unwrap().iter().map(|o| o.service_id).collect();
    assert!(offered.contains(&local), "offered where Li lives");
    assert!(!offered.contains(&remote), "not offered elsewhere");
    let until = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let key = city.portal.state.pseudonyms.clone();
    let refused = grants::issue(&city.db, &key, li, remote, None, &s(&["transit.trips"]), until).await.unwrap_err();
    assert!(
        matches!(&refused, GrantError::OutsideDistricts { districts } if *districts == [elsewhere.clone()]),
        "{refused}"
    );
    assert!(refused.to_string().contains(&elsewhere), "the message names the districts: {refused}");

    city.grant(li, local, &["transit.trips"], 30).await;
    city.settle().await;
    let token = city.transit_token().await;
    let path = format!("/api/v1/services/{local}/reads");
    let ask = json!({"pseudonym": city.pseudonym(li, local), "scopes": ["transit.trips"]});
    assert_eq!(city.api_post(&token, &path, &ask).await.0, 200);
    // Li moves away: the service no longer reads her data (and no longer offers itself).
    sqlx::query("update resident set district_id = $1 where resident_id = $2")
        .bind(&elsewhere)
        .bind(li)
        .execute(&city.db)
        .await
        .unwrap();
    let (status, body) = city.api_post(&token, &path, &ask).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("outside_districts")), "{body}");
    let offered: Vec<Uuid> = residents.offers(li).await.unwrap().iter().map(|o| o.service_id).collect();
    assert!(offered.contains(&remote) && !offered.contains(&local), "{offered:?}");
    city.shutdown().await;
}

/// A version that declares history reaches that many days before the grant's start, and no
/// further, however far back the agency asks.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_read_reaches_back_as_far_as_the_declared_history(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    let with_history = publish(&city, "history-planner", &planner(vec![], 3)).await;
    let without = publish(&city, "plain-planner", &planner(vec![], 0)).await;
    let li = city.resident("li").await; // trips 1..=10 days ago, fare 300 + days
    city.grant(li, with_history, &["transit.trips"], 30).await;
    city.grant(li, without, &["transit.trips"], 30).await;
    city.settle().await;
    let token = city.transit_token().await;
    let year_ago = time::OffsetDateTime::now_utc() - time::Duration::days(365);
    let from = year_ago.format(&time::format_description::well_known::Rfc3339).unwrap();
    let read = |service: Uuid| {
        let ask = json!({"pseudonym": city.pseudonym(li, service), "scopes": ["transit.trips"], "from": from});
        let path = format!("/api/v1/services/{service}/reads");
        (path, ask)
    };
    let (path, ask) = read(with_history);
    let (status, body) = city.api_post(&token, &path, &ask).await;
    assert_eq!(status, 200, "{body}");
    let got = fares(&body);
    assert!(got.contains(&301) && got.contains(&302), "the trips of the last three days: {got:?}");
    assert!(got.iter().all(|f| *f <= 303), "nothing older than three days: {got:?}");
    let (path, ask) = read(without);
    let (status, body) = city.api_post(&token, &path, &ask).await;
    assert_eq!(status, 200, "{body}");
    assert!(fares(&body).is_empty(), "no history declared: only what happens from the grant on");
    city.shutdown().await;
}

/// Every column of a grant's rows the gate reads, edited on its own with the triggers off: each
/// read is refused (`integrity` with an alarm where the row no longer matches its cosigned leaf)
/// and nothing is released; the row is put back before the next.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_grant_column_the_gate_reads_edited_behind_the_servers_back_is_denied(
    _p: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let mut city = City::start(&opts, &[]).await;
    let service = publish(&city, "trip-planner", &planner(vec![], 0)).await;
    let (li, wei) = (city.resident("li").await, city.resident("wei").await);
    let grant = city.grant(li, service, &["transit.trips"], 30).await;
    // A second version, published after Li agreed to the first: her grant stays on version 1.
    publish_version(
        &city.db,
        service,
        &NewVersion { purpose: "Plan routes and sell ads".into(), ..planner(vec![], 0) },
    )
    .await
    .unwrap();
    city.settle().await;
    let token = city.transit_token().await;
    let path = format!("/api/v1/services/{service}/reads");
    let ask = json!({"pseudonym": city.pseudonym(li, service), "scopes": ["transit.trips"]});
    assert_eq!(city.api_post(&token, &path, &ask).await.0, 200);
    let row: Value = sqlx::query_scalar("select to_jsonb(g) from data_grant g where data_grant_id = $1")
        .bind(grant.grant_id)
        .fetch_one(&city.db)
        .await
        .unwrap();
    let wei_id = wei.to_string();
    let edits = [
        ("resident_id", format!("resident_id = '{wei_id}'"), "integrity"),
        ("scopes", "scopes = '{residence.district,transit.trips}'".to_owned(), "integrity"),
        ("valid_from", "valid_from = valid_from - interval '30 days'".to_owned(), "integrity"),
        ("valid_until", "valid_until = valid_until + interval '1 year'".to_owned(), "integrity"),
        ("version", "version = 2".to_owned(), "integrity"),
        (
            "issued_entry_id",
            "issued_entry_id = (select ledger_entry_id from service_version where service_id = g.service_id and version = 2)"
                .to_owned(),
            "integrity",
        ),
        // Moved to another service: asked for at this one, there is no grant any more.
        ("service_id", "service_id = (select service_id from service where slug = 'fare-capping')".to_owned(), "no_grant"),
    ];
    let mut attacker = crate::harness::behind_the_servers_back(&city.db).await;
    for (column, set, reason) in edits {
        sqlx::query(&format!("update data_grant g set {set} where data_grant_id = $1"))
            .bind(grant.grant_id)
            .execute(&mut attacker)
            .await
            .unwrap();
        let (status, body) = city.api_post(&token, &path, &ask).await;
        assert_eq!((status, body["reason"].as_str()), (403, Some(reason)), "{column} edited: {body}");
        if reason == "integrity" {
            assert_eq!(resolve_integrity_alarms(&city).await, 1, "{column} edited: a grant_integrity alarm");
        }
        sqlx::query(
            "update data_grant g
             set (resident_id, service_id, version, scopes, valid_from, valid_until, issued_entry_id)
               = (r.resident_id, r.service_id, r.version, r.scopes, r.valid_from, r.valid_until, r.issued_entry_id)
             from jsonb_populate_record(null::data_grant, $1) r
             where g.data_grant_id = $2",
        )
        .bind(&row)
        .bind(grant.grant_id)
        .execute(&mut attacker)
        .await
        .unwrap();
    }
    // The grant's place in the log: moved, its inclusion can no longer be shown.
    sqlx::query(
        "update ledger_entry set leaf_index = leaf_index + 1000000
         where ledger_entry_id = (select issued_entry_id from data_grant where data_grant_id = $1)",
    )
    .bind(grant.grant_id)
    .execute(&mut attacker)
    .await
    .unwrap();
    let (status, body) = city.api_post(&token, &path, &ask).await;
    assert_eq!(status, 403, "leaf_index moved: {body}");
    sqlx::query(
        "update ledger_entry set leaf_index = leaf_index - 1000000
         where ledger_entry_id = (select issued_entry_id from data_grant where data_grant_id = $1)",
    )
    .bind(grant.grant_id)
    .execute(&mut attacker)
    .await
    .unwrap();
    assert_eq!(city.api_post(&token, &path, &ask).await.0, 200, "put back, the grant verifies again");
    let receipts: i64 = sqlx::query_scalar("select count(*) from access_receipt where data_grant_id = $1")
        .bind(grant.grant_id)
        .fetch_one(&city.db)
        .await
        .unwrap();
    assert_eq!(receipts, 2, "no refused read left a receipt");
    city.shutdown().await;
}
