//! The gate end to end, through the agency API with real tokens from the provider, real
//! witnesses and a real ledger: the happy path with a verifiable receipt, every denial reason
//! produced for real, tampering caught, and receipts matching reads under concurrency.

use crate::harness::City;
use chain::ProofBundle;
use serde_json::json;
use server::domain::grants;
use server::ledger::unix_now;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

fn days(n: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::days(n)
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

async fn receipts(city: &City, resident: Uuid) -> i64 {
    sqlx::query_scalar("select count(*) from access_receipt where resident_id = $1")
        .bind(resident)
        .fetch_one(&city.db)
        .await
        .unwrap()
}

async fn alarms(city: &City, kind: &str) -> Vec<String> {
    sqlx::query_scalar("select detail from ledger_alarm where kind = $1").bind(kind).fetch_all(&city.db).await.unwrap()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_agency_reads_granted_data_through_the_gate_and_the_resident_can_prove_it(
    _p: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let mut city = City::start(&opts, &[]).await;
    let key = city.portal.state.pseudonyms.clone();
    let fare = city.service("fare-capping").await;
    let li = city.resident("li").await;
    let token = city.transit_token().await;
    let pseudonym = city.pseudonym(li, fare);
    let path = format!("/api/v1/services/{fare}/reads");
    let ask = json!({"pseudonym": pseudonym, "scopes": ["transit.trips", "residence.district"]});

    // Before any grant: no_grant.
    let (status, body) = city.api_post(&token, &path, &ask).await;
    assert_eq!(
        (status, body["error"].as_str(), body["reason"].as_str()),
        (403, Some("access_denied"), Some("no_grant"))
    );

    // Granted but not yet cosigned: pending, and the agency sees it pending in its list.
    let grant = grants::issue(&city.db, &key, li, fare, None, &s(&["transit.trips", "residence.district"]), days(30))
        .await
        .unwrap();
    assert_eq!(grant.state, grants::GrantState::Pending);
    let (status, body) = city.api_post(&token, &path, &ask).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("pending")), "{body}");
    let (_, listed) = city.api_get(&token, &format!("/api/v1/services/{fare}/grants")).await;
    assert_eq!(listed[0]["pseudonym"], pseudonym.as_str());
    assert_eq!(listed[0]["state"], "pending");

    // Cosigned: the data comes back, restricted to the grant, under the pseudonym only. Li's
    // ten trips from before the grant stay out, however far back the agency asks: the grant
    // covers what happens from its start; the three trips since are released.
    city.settle().await;
    city.trips_now(li, 3).await;
    let year_ago = (OffsetDateTime::now_utc() - Duration::days(365))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let history = json!({"pseudonym": pseudonym, "scopes": ["transit.trips"], "from": year_ago});
    let (status, body) = city.api_post(&token, &path, &history).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["transit.trips"]["records"].as_array().unwrap().len(), 3, "only the grant's window");
    let (status, body) = city.api_post(&token, &path, &ask).await;
    assert_eq!(status, 200, "{body}");
    let trips = body["data"]["transit.trips"]["records"].as_array().unwrap();
    assert_eq!(trips.len(), 3);
    assert_eq!(body["data"]["transit.trips"]["kind"], "behavioral");
    assert_eq!(body["data"]["residence.district"]["value"], "harbor");
    assert!(body["data"].get("property.titles").is_none());
    let text = body.to_string();
    assert!(!text.contains(&li.to_string()), "the resident id never leaves");
    assert_eq!(receipts(&city, li).await, 2);

    // The receipt is in the ledger; once cosigned its bundle verifies offline.
    let receipt = body["receipt_id"].as_str().unwrap();
    let (status, body) = city.api_get(&token, &format!("/api/v1/receipts/{receipt}/bundle")).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("not_yet_cosigned")));
    city.settle().await;
    let (status, bundle_json) = city.api_get(&token, &format!("/api/v1/receipts/{receipt}/bundle")).await;
    assert_eq!(status, 200, "{bundle_json}");
    let bundle = ProofBundle::from_json(&bundle_json.to_string()).unwrap();
    let policy = city.portal.state.ledger.policy.clone().unwrap();
    let verdict = chain::verify_bundle(&bundle, &policy, unix_now()).unwrap();
    // The bundle proves the grant active at the time of the read, in the checkpoint the gate
    // verified against (kept with the receipt), and the same offline with the command.
    let at = verdict.at_read.as_ref().expect("a receipt's bundle proves the state at the read");
    assert!(at.active_at_read);
    assert_eq!(at.status.grant_id.0, *grant.grant_id.as_bytes());
    let dir = crate::harness::TempDir::new("receipt-verify");
    let (bundle_file, keys_file) = (dir.0.join("receipt.json"), dir.0.join("keys.txt"));
    std::fs::write(&bundle_file, bundle_json.to_string()).unwrap();
    let keys = reqwest::get(format!("{}/ledger/keys", city.portal.url)).await.unwrap().text().await.unwrap();
    std::fs::write(&keys_file, keys).unwrap();
    let args = server::cli::verify::VerifyArgs {
        bundle: bundle_file.clone(),
        keys: keys_file.clone(),
        at: None,
        content: None,
        serial: None,
    };
    let out = server::cli::verify::run(&args).unwrap();
    assert!(out.contains("ACTIVE AT THE TIME OF THE READ") && !out.contains("NOT ACTIVE"), "{out}");
    // A swapped part is refused, naming it: the later checkpoint in place of the verified one.
    let mut swapped = bundle_json.clone();
    swapped["at_read"]["checkpoint"] = bundle_json["checkpoint"].clone();
    std::fs::write(&bundle_file, swapped.to_string()).unwrap();
    let err = format!("{:#}", server::cli::verify::run(&args).unwrap_err());
    assert!(err.starts_with("NOT VERIFIED") && err.contains("at_read.checkpoint"), "{err}");
    match verdict.event {
        chain::Event::AccessReceipt { grant_id, reader, scopes, verified_at, .. } => {
            assert_eq!(grant_id.0, *grant.grant_id.as_bytes());
            assert_eq!(reader, "transit-authority/client/agency-transit");
            assert_eq!(scopes, ["residence.district", "transit.trips"]);
            // The receipt names the quorum checkpoint the gate verified the grant against: one
            // the portal holds, older than the receipt itself.
            let verified_at = verified_at.expect("a v2 receipt");
            assert!(verified_at.size <= verdict.index, "verified before the receipt was written");
            let root: Vec<u8> = sqlx::query_scalar(
                "select root_hash from ledger_checkpoint where tree_size = $1 and quorum_at is not null",
            )
            .bind(i64::try_from(verified_at.size).unwrap())
            .fetch_one(&city.db)
            .await
            .unwrap();
            assert_eq!(root, verified_at.root.0);
        }
        other => panic!("expected a receipt, got {other:?}"),
    }

    // Revocation denies the very next read, before it is cosigned.
    grants::revoke(&city.db, &key, li, grant.grant_id).await.unwrap();
    let (status, body) = city.api_post(&token, &path, &ask).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("revoked")));
    assert_eq!(receipts(&city, li).await, 2, "a denied read leaves no receipt");
    let (_, listed) = city.api_get(&token, &format!("/api/v1/services/{fare}/grants")).await;
    assert_eq!(listed.as_array().unwrap().len(), 0, "a revoked grant is no longer listed");
    city.shutdown().await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_denial_reason_is_produced_for_real(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    let key = city.portal.state.pseudonyms.clone();
    let (fare, clinic) = (city.service("fare-capping").await, city.service("senior-clinic").await);
    let (li, maria, chen) = (city.resident("li").await, city.resident("maria").await, city.resident("chen").await);
    let transit = city.transit_token().await;
    let health = city.health_token().await;
    let read = |service: Uuid, resident: Uuid, scopes: &[&str]| {
        (
            format!("/api/v1/services/{service}/reads"),
            json!({"pseudonym": key.pseudonym(resident, service).to_hex(), "scopes": scopes}),
        )
    };

    // Narrowed scope: Li drops the district; asking for it is scope_not_granted.
    let g = grants::issue(&city.db, &key, li, fare, None, &s(&["transit.trips", "residence.district"]), days(30))
        .await
        .unwrap();
    let narrowed = grants::narrow(&city.db, &key, li, g.grant_id, Some(&s(&["transit.trips"])), None).await.unwrap();
    assert_eq!(narrowed.replaces, Some(g.grant_id));
    // Maria's grant ends two seconds from now.
    grants::issue(
        &city.db,
        &key,
        maria,
        fare,
        None,
        &s(&["transit.trips"]),
        OffsetDateTime::now_utc() + Duration::seconds(2),
    )
    .await
    .unwrap();
    // Chen grants the one-off senior clinic.
    grants::issue(&city.db, &key, chen, clinic, None, &s(&["identity.age_over_65"]), days(30)).await.unwrap();
    city.settle().await;

    let (p, b) = read(fare, li, &["transit.trips", "residence.district"]);
    let (status, body) = city.api_post(&transit, &p, &b).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("scope_not_granted")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("residence.district"));
    let (p, b) = read(fare, li, &["transit.trips"]);
    assert_eq!(city.api_post(&transit, &p, &b).await.0, 200);

    // Recurring, at most 4 reads a day: the fifth is frequency_exceeded (one read done above).
    for _ in 0..3 {
        assert_eq!(city.api_post(&transit, &p, &b).await.0, 200);
    }
    let (status, body) = city.api_post(&transit, &p, &b).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("frequency_exceeded")));
    assert_eq!(receipts(&city, li).await, 4);

    // One-off: the predicate is released once, as a yes/no only.
    let (p, b) = read(clinic, chen, &["identity.age_over_65"]);
    let (status, body) = city.api_post(&health, &p, &b).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["identity.age_over_65"], json!({"kind": "predicate", "value": true}));
    assert!(!body.to_string().contains("1950-03-01"), "never the birth date");
    let (status, body) = city.api_post(&health, &p, &b).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("frequency_exceeded")));

    // Expired by the clock.
    let (p, b) = read(fare, maria, &["transit.trips"]);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = city.api_post(&transit, &p, &b).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("expired")), "{body}");
    // An ended grant cannot be narrowed (nothing to narrow), only extended or granted again.
    let maria_grant = grants::list(&city.db, maria).await.unwrap().remove(0);
    let err = grants::narrow(&city.db, &key, maria, maria_grant.grant_id, None, None).await.unwrap_err();
    assert!(matches!(err, grants::GrantError::Invalid { field: "valid_until", .. }), "{err}");
    let extended = grants::extend(&city.db, &key, maria, maria_grant.grant_id, days(10)).await.unwrap();
    assert_eq!(extended.state, grants::GrantState::Pending);

    // An unknown pseudonym: no_grant.
    let (status, body) = city
        .api_post(
            &transit,
            &format!("/api/v1/services/{fare}/reads"),
            &json!({"pseudonym": "ab".repeat(32), "scopes": ["transit.trips"]}),
        )
        .await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("no_grant")));
    assert!(alarms(&city, "grant_integrity").await.is_empty(), "no integrity alarm for honest denials");
    city.shutdown().await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn rows_edited_behind_the_servers_back_are_caught(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    let key = city.portal.state.pseudonyms.clone();
    let fare = city.service("fare-capping").await;
    let (li, maria) = (city.resident("li").await, city.resident("maria").await);
    let token = city.transit_token().await;
    let gl = grants::issue(&city.db, &key, li, fare, None, &s(&["transit.trips"]), days(30)).await.unwrap();
    let gm = grants::issue(&city.db, &key, maria, fare, None, &s(&["transit.trips"]), days(30)).await.unwrap();
    city.settle().await;
    let path = format!("/api/v1/services/{fare}/reads");
    let ask = |r: Uuid, scopes: &[&str]| json!({"pseudonym": key.pseudonym(r, fare).to_hex(), "scopes": scopes});
    assert_eq!(city.api_post(&token, &path, &ask(li, &["transit.trips"])).await.0, 200);

    // Widen the scopes in the row: the recomputed leaf no longer matches the cosigned one.
    sqlx::query("update data_grant set scopes = '{residence.district,transit.trips}' where data_grant_id = $1")
        .bind(gl.grant_id)
        .execute(&city.db)
        .await
        .unwrap();
    let (status, body) = city.api_post(&token, &path, &ask(li, &["residence.district"])).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("integrity")), "{body}");
    let (status, body) = city.api_post(&token, &path, &ask(li, &["transit.trips"])).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("integrity")), "the whole grant is untrusted");
    let raised = alarms(&city, "grant_integrity").await;
    assert!(raised.iter().any(|d| d.contains(&gl.grant_id.to_string())), "{raised:?}");

    // Stretch the window: caught the same way.
    sqlx::query("update data_grant set valid_until = valid_until + interval '1 year' where data_grant_id = $1")
        .bind(gm.grant_id)
        .execute(&city.db)
        .await
        .unwrap();
    let (status, body) = city.api_post(&token, &path, &ask(maria, &["transit.trips"])).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("integrity")), "{body}");
    assert_eq!(receipts(&city, li).await + receipts(&city, maria).await, 1, "no receipt for a refused read");

    // Point someone else's pseudonym at a clean grant: an agency asking for that person would
    // otherwise be handed this resident's data.
    let wei = city.resident("wei").await;
    let gw = city.grant(wei, fare, &["transit.trips"], 30).await;
    city.settle().await;
    assert_eq!(city.api_post(&token, &path, &ask(wei, &["transit.trips"])).await.0, 200);
    let stranger = Uuid::new_v4();
    sqlx::query("update data_grant set pseudonym = $1 where data_grant_id = $2")
        .bind(&key.pseudonym(stranger, fare).0[..])
        .bind(gw.grant_id)
        .execute(&city.db)
        .await
        .unwrap();
    let (status, body) = city.api_post(&token, &path, &ask(stranger, &["transit.trips"])).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("integrity")), "{body}");
    assert!(alarms(&city, "grant_integrity").await.iter().any(|d| d.contains("pseudonym")), "the alarm says why");

    // Delete a cosigned revocation: the status map still says revoked.
    let chen = city.resident("chen").await;
    let gc = grants::issue(&city.db, &key, chen, fare, None, &s(&["transit.trips"]), days(30)).await.unwrap();
    city.settle().await;
    grants::revoke(&city.db, &key, chen, gc.grant_id).await.unwrap();
    city.settle().await;
    sqlx::query("delete from grant_revocation where data_grant_id = $1")
        .bind(gc.grant_id)
        .execute(&city.db)
        .await
        .unwrap();
    let (status, body) = city.api_post(&token, &path, &ask(chen, &["transit.trips"])).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("revoked")), "{body}");
    assert_eq!(alarms(&city, "grant_revocation_missing").await.len(), 1);
    city.shutdown().await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn receipts_match_successful_reads_under_concurrent_load(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    let key = city.portal.state.pseudonyms.clone();
    let token = city.transit_token().await;
    // An ongoing service published through the API, so reads are limited only by the load.
    let (status, created) = city.api_post(&token, "/api/v1/services", &json!({"slug": "trip-planner"})).await;
    assert_eq!(status, 201, "{created}");
    let planner: Uuid = created["service_id"].as_str().unwrap().parse().unwrap();
    let version = json!({
        "name_en": "Trip planner", "name_zh": "出行规划", "category": "transport",
        "purpose": "Suggest better routes from your recent trips", "required_scopes": ["transit.trips"],
        "retention_days": 30, "access_mode": "ongoing"
    });
    let (status, body) = city.api_post(&token, &format!("/api/v1/services/{planner}/versions"), &version).await;
    assert_eq!((status, body["version"].as_i64()), (201, Some(1)), "{body}");
    let (li, chen) = (city.resident("li").await, city.resident("chen").await);
    grants::issue(&city.db, &key, li, planner, None, &s(&["transit.trips"]), days(30)).await.unwrap();
    let clinic = city.service("senior-clinic").await;
    grants::issue(&city.db, &key, chen, clinic, None, &s(&["identity.age_over_65"]), days(30)).await.unwrap();
    city.settle().await;
    let health = city.health_token().await;

    // All at once: 40 reads on the ongoing grant, 10 on the one-off grant, 10 on a grant that
    // allows 4 reads a day.
    let maria = city.resident("maria").await;
    let fare = city.service("fare-capping").await;
    grants::issue(&city.db, &key, maria, fare, None, &s(&["transit.trips"]), days(30)).await.unwrap();
    city.settle().await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let (service, resident, tok, scope) = match i {
            0..40 => (planner, li, token.clone(), "transit.trips"),
            40..50 => (clinic, chen, health.clone(), "identity.age_over_65"),
            _ => (fare, maria, token.clone(), "transit.trips"),
        };
        let url = format!("{}/api/v1/services/{service}/reads", city.portal.url);
        let body = json!({"pseudonym": city.pseudonym(resident, service), "scopes": [scope]});
        tasks.push(tokio::spawn(async move {
            let resp = reqwest::Client::new().post(url).bearer_auth(tok).json(&body).send().await.unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap();
            (status, body["reason"].as_str().map(str::to_owned))
        }));
    }
    let mut ok = [0, 0, 0];
    for (i, t) in tasks.into_iter().enumerate() {
        let (status, reason) = t.await.unwrap();
        let group = match i {
            0..40 => 0,
            40..50 => 1,
            _ => 2,
        };
        if status == 200 {
            ok[group] += 1;
        } else {
            assert_eq!((group > 0, status, reason.as_deref()), (true, 403, Some("frequency_exceeded")), "read {i}");
        }
    }
    assert_eq!(ok, [40, 1, 4], "every ongoing read succeeds; the one-off grant once; the daily limit holds");
    assert_eq!(receipts(&city, li).await, 40);
    assert_eq!(receipts(&city, chen).await, 1);
    assert_eq!(receipts(&city, maria).await, 4);
    let entries: i64 = sqlx::query_scalar("select count(*) from ledger_entry where kind = 'access.receipt'")
        .fetch_one(&city.db)
        .await
        .unwrap();
    assert_eq!(entries, 45, "one ledger entry per receipt");
    let orphans: i64 = sqlx::query_scalar(
        "select count(*) from ledger_entry e where e.kind = 'access.receipt'
         and not exists (select 1 from access_receipt a where a.ledger_entry_id = e.ledger_entry_id)",
    )
    .fetch_one(&city.db)
    .await
    .unwrap();
    assert_eq!(orphans, 0, "every receipt entry belongs to a receipt row");
    city.shutdown().await;
}

/// A revocation racing a burst of reads of the same grant: every read is either served (with
/// its receipt) or refused as `revoked`, never an error; the revocation itself succeeds; and
/// once it has returned, no read gets through.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_revocation_racing_reads_wins_and_nothing_fails(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    let key = city.portal.state.pseudonyms.clone();
    let planner =
        server::domain::services::create_service(&city.db, "transit-authority", "trip-planner").await.unwrap();
    let version = server::domain::services::NewVersion {
        optional_scopes: vec![],
        access_mode: server::domain::services::AccessMode::Ongoing,
        ..crate::harness::planner(vec![], 0)
    };
    server::domain::services::publish_version(&city.db, planner, &version).await.unwrap();
    let token = city.transit_token().await;
    for round in 0..3 {
        let li = city.resident(&format!("li-{round}")).await;
        let grant = city.grant(li, planner, &["transit.trips"], 30).await;
        city.settle().await;
        let url = format!("{}/api/v1/services/{planner}/reads", city.portal.url);
        let body = json!({"pseudonym": city.pseudonym(li, planner), "scopes": ["transit.trips"]});
        let reads: Vec<_> = (0..30)
            .map(|_| {
                let (url, token, body) = (url.clone(), token.clone(), body.clone());
                tokio::spawn(async move {
                    let resp = reqwest::Client::new().post(url).bearer_auth(token).json(&body).send().await.unwrap();
                    let status = resp.status().as_u16();
                    let body: serde_json::Value = resp.json().await.unwrap();
                    (status, body["reason"].as_str().map(str::to_owned))
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(5 * round)).await;
        grants::revoke(&city.db, &key, li, grant.grant_id).await.expect("the revocation never fails");
        let (status, after) = city.api_post(&token, &url.replacen(&city.portal.url, "", 1), &body).await;
        assert_eq!((status, after["reason"].as_str()), (403, Some("revoked")), "round {round}: after the revocation");
        let mut served = 0;
        for r in reads {
            match r.await.unwrap() {
                (200, _) => served += 1,
                (403, Some(reason)) if reason == "revoked" => {}
                other => panic!("round {round}: a racing read ended with {other:?}"),
            }
        }
        assert_eq!(receipts(&city, li).await, served, "round {round}: one receipt per served read");
    }
    city.shutdown().await;
}

/// Edits the gate's counts and the service's owner cannot be made in the database without the
/// gate noticing: a service handed to another agency (the agency is in the cosigned
/// `service.published` leaf the grant points at), and receipts deleted to reset a daily limit
/// (receipts are append-only, and their rows are compared with their ledger entries).
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_service_handed_to_another_agency_or_receipts_deleted_are_caught(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    let fare = city.service("fare-capping").await;
    let li = city.resident("li").await;
    let grant = city.grant(li, fare, &["transit.trips"], 30).await;
    city.settle().await;
    let (transit, health) = (city.transit_token().await, city.health_token().await);
    let path = format!("/api/v1/services/{fare}/reads");
    let ask = json!({"pseudonym": city.pseudonym(li, fare), "scopes": ["transit.trips"]});
    assert_eq!(city.api_post(&transit, &path, &ask).await.0, 200);

    // Hand fare capping, with Li's grant, to the health department.
    sqlx::query("update service set agency_id = 'health-department' where service_id = $1")
        .bind(fare)
        .execute(&city.db)
        .await
        .unwrap();
    let (status, body) = city.api_post(&health, &path, &ask).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("integrity")), "{body}");
    let raised = alarms(&city, "grant_integrity").await;
    assert!(raised.iter().any(|d| d.contains("service.published")), "{raised:?}");
    let (status, body) = city.api_post(&transit, &path, &ask).await;
    assert_eq!(status, 404, "not the transit authority's service now: {body}");
    sqlx::query("update service set agency_id = 'transit-authority' where service_id = $1")
        .bind(fare)
        .execute(&city.db)
        .await
        .unwrap();

    // Fare capping allows four reads a day: three more, then the limit.
    for _ in 0..3 {
        assert_eq!(city.api_post(&transit, &path, &ask).await.0, 200);
    }
    let (status, body) = city.api_post(&transit, &path, &ask).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("frequency_exceeded")), "{body}");
    // Deleting receipts is refused; with triggers off it happens, and is caught.
    let deleted =
        sqlx::query("delete from access_receipt where data_grant_id = $1").bind(grant.grant_id).execute(&city.db).await;
    assert!(deleted.is_err(), "receipts are append-only");
    let mut attacker = crate::harness::behind_the_servers_back(&city.db).await;
    sqlx::query("delete from access_receipt where data_grant_id = $1")
        .bind(grant.grant_id)
        .execute(&mut attacker)
        .await
        .unwrap();
    let (status, body) = city.api_post(&transit, &path, &ask).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("integrity")), "the limit is not reset: {body}");
    let raised = alarms(&city, "receipt_deleted").await;
    assert!(raised.iter().any(|d| d.contains(&grant.grant_id.to_string())), "{raised:?}");
    assert_eq!(receipts(&city, li).await, 0, "and nothing more was read");
    city.shutdown().await;
}
