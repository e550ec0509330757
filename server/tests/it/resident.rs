//! The resident's functions over HTTP with a real session: offers, grant / narrow / extend /
//! revoke, receipts with filters and proofs, own data without a receipt; and no other
//! identity (another resident, agency staff, anonymous) can see or change any of it.

use crate::harness::{City, browser, sign_in};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

fn in_days(n: i64) -> String {
    (OffsetDateTime::now_utc() + Duration::days(n)).format(&Rfc3339).unwrap()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_resident_manages_grants_and_sees_every_read_with_a_proof(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    let li = browser();
    sign_in(&li, &city.portal, "resident1").await;
    let resident = city.resident_of("resident1").await;
    let fare = city.service("fare-capping").await;

    let (status, offers) = city.server_fn(&li, "me/offers", &[]).await;
    assert_eq!(status, 200, "{offers}");
    let offer = offers.as_array().unwrap().iter().find(|o| o["service_id"] == fare.to_string()).unwrap();
    assert_eq!((offer["required_scopes"].clone(), offer["granted"].clone()), (json!(["transit.trips"]), Value::Null));
    let version = offer["version"].to_string();

    // Bad input names the field; nothing is written.
    let (status, err) = city
        .server_fn(
            &li,
            "me/grants/issue",
            &[
                ("service_id", fare.to_string()),
                ("version", version.clone()),
                ("scopes[0]", "transit.trips".into()),
                ("valid_until", "next week".into()),
            ],
        )
        .await;
    assert_eq!((status, err["Invalid"]["field"].as_str()), (400, Some("valid_until")), "{err}");
    let (status, err) = city
        .server_fn(
            &li,
            "me/grants/issue",
            &[
                ("service_id", fare.to_string()),
                ("version", version.clone()),
                ("scopes[0]", "residence.district".into()),
                ("valid_until", in_days(30)),
            ],
        )
        .await;
    assert_eq!((status, err["Invalid"]["field"].as_str()), (400, Some("scopes")), "{err}");
    assert!(err["Invalid"]["problem"].as_str().unwrap().contains("transit.trips"), "names the required scope: {err}");

    // Arguments that do not parse at all are the client's error too.
    let (status, err) = city.server_fn(&li, "me/grants/extend", &[("grant_id", "not-a-uuid".into())]).await;
    assert_eq!((status, err["ServerFn"].get("Args").is_some()), (400, true), "{err}");

    // Grant both scopes; pending until cosigned, then active.
    let (status, grant) = city
        .server_fn(
            &li,
            "me/grants/issue",
            &[
                ("service_id", fare.to_string()),
                ("version", version.clone()),
                ("scopes[0]", "transit.trips".into()),
                ("scopes[1]", "residence.district".into()),
                ("valid_until", in_days(30)),
            ],
        )
        .await;
    assert_eq!((status, grant["state"].as_str()), (200, Some("pending")), "{grant}");
    let grant_id = grant["grant_id"].as_str().unwrap().to_owned();
    city.settle().await;
    let (_, grants) = city.server_fn(&li, "me/grants", &[]).await;
    assert_eq!(grants[0]["state"], "active");

    // The agency reads; the resident sees the receipt, filterable, with a proof once cosigned.
    let token = city.transit_token().await;
    let ask = json!({"pseudonym": city.pseudonym(resident, fare), "scopes": ["transit.trips"]});
    assert_eq!(city.api_post(&token, &format!("/api/v1/services/{fare}/reads"), &ask).await.0, 200);
    city.settle().await;
    let (status, receipts) = city.server_fn(&li, "me/receipts", &[("agency_id", "transit-authority".into())]).await;
    assert_eq!(status, 200, "{receipts}");
    let receipts = receipts.as_array().unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0]["reader"], "transit-authority/client/agency-transit");
    assert_eq!(receipts[0]["grant_id"], grant_id.as_str());
    let (_, none) = city.server_fn(&li, "me/receipts", &[("scope", "residence.district".into())]).await;
    assert_eq!(none.as_array().unwrap().len(), 0, "filtered by scope");
    let index = receipts[0]["leaf_index"].as_i64().expect("sequenced");
    let bundle =
        reqwest::get(format!("{}/ledger/bundle/{index}", city.portal.url)).await.unwrap().text().await.unwrap();
    let policy = city.portal.state.ledger.policy.clone().unwrap();
    chain::verify_bundle(&chain::ProofBundle::from_json(&bundle).unwrap(), &policy, server::ledger::unix_now())
        .unwrap();

    // Own data: no grant, no receipt.
    let (status, data) = city.server_fn(&li, "me/data", &[("scopes[0]", "residence.district".into())]).await;
    assert_eq!(status, 200, "{data}");
    let data: Value = serde_json::from_str(data.as_str().unwrap()).unwrap();
    assert_eq!(data["residence.district"]["kind"], "predicate");
    let receipts_now: i64 =
        sqlx::query_scalar("select count(*) from access_receipt").fetch_one(&city.db).await.unwrap();
    assert_eq!(receipts_now, 1);

    // Narrow, then extend, then revoke: each replaces or ends the grant, history kept.
    let (status, narrowed) = city
        .server_fn(&li, "me/grants/narrow", &[("grant_id", grant_id.clone()), ("scopes[0]", "transit.trips".into())])
        .await;
    let narrowed_id = narrowed["grant_id"].as_str().unwrap_or_else(|| panic!("{status} {narrowed}")).to_owned();
    assert_eq!(narrowed["scopes"], json!(["transit.trips"]));
    let (status, extended) = city
        .server_fn(&li, "me/grants/extend", &[("grant_id", narrowed_id.clone()), ("valid_until", in_days(60))])
        .await;
    assert_eq!(status, 200, "{extended}");
    let (status, err) =
        city.server_fn(&li, "me/grants/extend", &[("grant_id", grant_id.clone()), ("valid_until", in_days(90))]).await;
    assert_eq!((status, err.get("Conflict").is_some()), (409, true), "a replaced grant cannot change: {err}");
    let extended_id = extended["grant_id"].as_str().unwrap().to_owned();
    assert_eq!(
        (narrowed["valid_from"].clone(), extended["valid_from"].clone()),
        (grant["valid_from"].clone(), grant["valid_from"].clone()),
        "narrowing and extending continue the consent from where it started"
    );
    let (status, revoked) = city.server_fn(&li, "me/grants/revoke", &[("grant_id", extended_id.clone())]).await;
    assert_eq!((status, revoked["state"].as_str()), (200, Some("revoked")));
    let (_, history) = city.server_fn(&li, "me/grants", &[]).await;
    let states: Vec<&str> = history.as_array().unwrap().iter().map(|g| g["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["revoked", "replaced", "replaced"]);
    let (status, body) = city.api_post(&token, &format!("/api/v1/services/{fare}/reads"), &ask).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("revoked")));

    // Nobody else reaches any of it.
    let maria = browser();
    sign_in(&maria, &city.portal, "resident2").await;
    let staff = browser();
    sign_in(&staff, &city.portal, "staff1").await;
    let anonymous = browser();
    let own_calls: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("me/grants", vec![]),
        ("me/receipts", vec![]),
        ("me/offers", vec![]),
        ("me/data", vec![("scopes[0]", "transit.trips".into())]),
        ("me/grants/revoke", vec![("grant_id", extended_id.clone())]),
        ("me/grants/extend", vec![("grant_id", extended_id.clone()), ("valid_until", in_days(99))]),
        ("me/grants/narrow", vec![("grant_id", extended_id.clone()), ("valid_until", in_days(1))]),
    ];
    for (name, form) in &own_calls {
        let (status, body) = city.server_fn(&anonymous, name, form).await;
        assert_eq!(status, 401, "anonymous {name}: {body}");
        let (status, body) = city.server_fn(&staff, name, form).await;
        assert_eq!(status, 403, "staff {name}: {body}");
        let (status, body) = city.server_fn(&maria, name, form).await;
        let text = body.to_string();
        assert!(!text.contains(&grant_id) && !text.contains(&resident.to_string()), "resident2 {name}: {text}");
        if name.starts_with("me/grants/") {
            assert_eq!(status, 404, "resident2 {name}: {body}");
        } else {
            assert_eq!(status, 200, "resident2 {name}: {body}");
        }
    }
    // An agency's access token opens no resident function.
    for (name, form) in &own_calls {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/{name}", city.portal.url))
            .bearer_auth(&token)
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "agency token {name}");
    }
    let (_, maria_grants) = city.server_fn(&maria, "me/grants", &[]).await;
    assert_eq!(maria_grants, json!([]));
    let (_, maria_receipts) = city.server_fn(&maria, "me/receipts", &[]).await;
    assert_eq!(maria_receipts, json!([]));
    city.shutdown().await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_demo_residents_are_seeded_once_and_their_grants_pass_the_gate(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    let key = city.portal.state.pseudonyms.clone();
    let issuer = city.portal.idp.issuer.clone();
    // resident1 signed in before the seed ran: the seed fills in that same resident.
    let li = browser();
    sign_in(&li, &city.portal, "resident1").await;
    assert_eq!(server::seed::seed_residents(&city.db, &issuer, &key).await.unwrap(), 2);
    assert_eq!(server::seed::seed_residents(&city.db, &issuer, &key).await.unwrap(), 0, "idempotent");
    city.settle().await;
    let residents: i64 = sqlx::query_scalar("select count(*) from resident").fetch_one(&city.db).await.unwrap();
    assert_eq!(residents, 2, "no second resident for resident1");

    // resident2 signs in to the account the seed created; both see their seeded city.
    let maria = browser();
    sign_in(&maria, &city.portal, "resident2").await;
    let (_, data) = city.server_fn(&maria, "me/data", &[("scopes[0]", "residence.district".into())]).await;
    assert!(data.as_str().unwrap().contains("riverside"), "{data}");
    let (_, grants) = city.server_fn(&li, "me/grants", &[]).await;
    let states: Vec<&str> = grants.as_array().unwrap().iter().map(|g| g["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["active", "active"], "{grants}");

    let token = city.transit_token().await;
    let fare = city.service("fare-capping").await;
    let (_, listed) = city.api_get(&token, &format!("/api/v1/services/{fare}/grants")).await;
    let pseudonym = listed[0]["pseudonym"].as_str().unwrap();
    let (status, body) = city
        .api_post(
            &token,
            &format!("/api/v1/services/{fare}/reads"),
            &json!({"pseudonym": pseudonym, "scopes": ["transit.trips", "residence.district"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["residence.district"]["value"], "harbor");
    assert!(body["data"]["transit.trips"]["records"].as_array().unwrap().len() > 20);
    city.shutdown().await;
}

/// The attack of the review (#21): the consent form showed version 1 (its purpose, mode and
/// retention); the agency published version 2 before the resident confirmed; the grant bound
/// them to version 2. Now the form carries the version it showed, and a grant of anything
/// else is refused with a message naming both, and nothing is written.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn consent_binds_only_to_the_terms_the_resident_was_shown(_p: PgPoolOptions, opts: PgConnectOptions) {
    let city = City::start(&opts, &[]).await;
    let li = browser();
    sign_in(&li, &city.portal, "resident1").await;
    let fare = city.service("fare-capping").await;
    let (_, offers) = city.server_fn(&li, "me/offers", &[]).await;
    let shown = offers.as_array().unwrap().iter().find(|o| o["service_id"] == fare.to_string()).unwrap().clone();
    let shown_version = shown["version"].as_i64().unwrap();

    // Meanwhile the agency publishes wider terms.
    let wider = server::domain::services::NewVersion {
        name_en: "Fare capping".into(),
        name_zh: "票价封顶".into(),
        description_en: "Now with marketing.".into(),
        description_zh: "现在包括营销。".into(),
        category: "transport".into(),
        purpose: "Cap fares and send offers from partners".into(),
        required_scopes: vec!["transit.trips".into()],
        optional_scopes: vec![],
        retention_days: 3650,
        districts: vec![],
        access_mode: server::domain::services::AccessMode::Ongoing,
        history_days: 0,
    };
    let published = server::domain::services::publish_version(&city.db, fare, &wider).await.unwrap();
    assert_eq!(i64::from(published.version), shown_version + 1);

    let form = |version: i64| {
        vec![
            ("service_id", fare.to_string()),
            ("version", version.to_string()),
            ("scopes[0]", "transit.trips".to_owned()),
            ("valid_until", in_days(30)),
        ]
    };
    let (status, err) = city.server_fn(&li, "me/grants/issue", &form(shown_version)).await;
    assert_eq!(status, 409, "{err}");
    let message = err["Conflict"].as_str().unwrap();
    assert!(
        message.contains(&format!("version {}", shown_version + 1))
            && message.contains(&format!("version {shown_version}")),
        "{message}"
    );
    let grants: i64 = sqlx::query_scalar("select count(*) from data_grant").fetch_one(&city.db).await.unwrap();
    assert_eq!(grants, 0, "nothing granted");

    // Shown the new terms, the resident can agree to them.
    let (status, grant) = city.server_fn(&li, "me/grants/issue", &form(shown_version + 1)).await;
    assert_eq!((status, grant["version"].as_i64()), (200, Some(shown_version + 1)), "{grant}");
    city.shutdown().await;
}
