//! The agency API's edge: who may call what (the isolation matrix), input validation with
//! messages that name the field, size and rate limits, and the OpenAPI document.

use crate::harness::{City, browser, sign_in};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn no_other_identity_reaches_an_agencys_services_grants_reads_or_receipts(
    _p: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let mut city = City::start(&opts, &[]).await;
    let fare = city.service("fare-capping").await;
    let li = city.resident("li").await;
    city.grant(li, fare, &["transit.trips"], 9).await;
    city.settle().await;
    let transit = city.transit_token().await;
    let health = city.health_token().await;
    let read_body = json!({"pseudonym": city.pseudonym(li, fare), "scopes": ["transit.trips"]});
    let (status, ok) = city.api_post(&transit, &format!("/api/v1/services/{fare}/reads"), &read_body).await;
    assert_eq!(status, 200, "{ok}");
    let receipt = ok["receipt_id"].as_str().unwrap().to_owned();
    city.settle().await;

    // A resident signed in to the portal: their ID token is not an access token, and their
    // session cookie means nothing to the API.
    let resident_browser = browser();
    sign_in(&resident_browser, &city.portal, "resident1").await;
    // Staff of this very agency, signed in to the console: a session is not a token either.
    let staff_browser = browser();
    sign_in(&staff_browser, &city.portal, "staff1").await;

    let endpoints: Vec<(&str, String)> = vec![
        ("GET", "/api/v1/services".into()),
        ("GET", format!("/api/v1/services/{fare}/grants")),
        ("POST", format!("/api/v1/services/{fare}/reads")),
        ("POST", format!("/api/v1/services/{fare}/versions")),
        ("POST", format!("/api/v1/services/{fare}/withdraw")),
        ("GET", format!("/api/v1/receipts/{receipt}/bundle")),
    ];
    let version = json!({"name_en": "x", "name_zh": "x", "category": "x", "purpose": "widen", "required_scopes": ["property.titles"],
                         "retention_days": 1, "access_mode": "ongoing"});
    for (method, path) in &endpoints {
        let url = format!("{}{path}", city.portal.url);
        let body = if path.ends_with("/reads") { read_body.clone() } else { version.clone() };
        let send = |client: &reqwest::Client, bearer: Option<&str>| {
            let mut rb = if *method == "GET" { client.get(&url) } else { client.post(&url).json(&body) };
            if let Some(t) = bearer {
                rb = rb.bearer_auth(t);
            }
            rb.send()
        };
        // Anonymous, a forged token, and a resident's session: 401.
        for (who, resp) in [
            ("anonymous", send(&reqwest::Client::new(), None).await.unwrap()),
            ("forged", send(&reqwest::Client::new(), Some("eyJhbGciOiJub25lIn0.e30.")).await.unwrap()),
            ("resident session", send(&resident_browser, None).await.unwrap()),
            ("staff session", send(&staff_browser, None).await.unwrap()),
        ] {
            assert_eq!(resp.status(), 401, "{who} {method} {path}");
            assert!(resp.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
            let body: serde_json::Value = resp.json().await.unwrap();
            assert_eq!(body["error"], "invalid_token", "{who} {method} {path}");
        }
        // Another agency's client: the service and receipt do not exist for it.
        if path != "/api/v1/services" {
            let resp = send(&reqwest::Client::new(), Some(&health)).await.unwrap();
            assert_eq!(resp.status(), 404, "health {method} {path}");
            let text = resp.text().await.unwrap();
            assert!(!text.contains(&li.to_string()) && !text.contains("transit.trips"), "{text}");
        }
    }
    // The other agency's own listing shows only its own services.
    let (_, mine) = city.api_get(&health, "/api/v1/services").await;
    let slugs: Vec<&str> = mine.as_array().unwrap().iter().map(|s| s["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["senior-clinic"]);
    // Nothing the other agency tried published anything or left a receipt.
    let versions: i64 = sqlx::query_scalar("select count(*) from service_version where service_id = $1")
        .bind(fare)
        .fetch_one(&city.db)
        .await
        .unwrap();
    assert_eq!(versions, 1);
    let status: String = sqlx::query_scalar("select status from service where service_id = $1")
        .bind(fare)
        .fetch_one(&city.db)
        .await
        .unwrap();
    assert_eq!(status, "published", "nobody else withdrew it");
    let receipts: i64 = sqlx::query_scalar("select count(*) from access_receipt").fetch_one(&city.db).await.unwrap();
    assert_eq!(receipts, 1);

    // A token without agency.publish cannot publish; without agency.read cannot read.
    let read_only = city.token("agency-transit", "agency-transit-secret", "agency.read").await;
    let (status, body) = city.api_post(&read_only, &format!("/api/v1/services/{fare}/versions"), &version).await;
    assert_eq!(
        (status, body["error"].as_str(), body["reason"].as_str()),
        (403, Some("insufficient_scope"), Some("agency.publish"))
    );
    let publish_only = city.token("agency-transit", "agency-transit-secret", "agency.publish").await;
    let (status, body) = city.api_post(&publish_only, &format!("/api/v1/services/{fare}/reads"), &read_body).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("agency.read")));
    city.shutdown().await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn bad_input_is_refused_with_the_field_named_and_clients_are_rate_limited(
    _p: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let city = City::start(&opts, &["--api-rate-per-minute=300".to_owned()]).await;
    let token = city.transit_token().await;
    let fare = city.service("fare-capping").await;
    let reads = format!("/api/v1/services/{fare}/reads");
    let cases = [
        (
            json!({"pseudonym": "ab".repeat(32), "scopes": ["transit.trips"], "extra": 1}),
            "body",
            "unknown field `extra`",
        ),
        (json!({"scopes": ["transit.trips"]}), "body", "missing field `pseudonym`"),
        (json!({"pseudonym": "zz", "scopes": ["transit.trips"]}), "pseudonym", "64 hex digits"),
        (json!({"pseudonym": "ab".repeat(32), "scopes": ["Transit Trips"]}), "scopes", "is not a scope"),
        (
            json!({"pseudonym": "ab".repeat(32), "scopes": ["transit.trips"], "limit": 5000}),
            "limit",
            "between 1 and 1000",
        ),
    ];
    for (body, field, says) in cases {
        let (status, err) = city.api_post(&token, &reads, &body).await;
        assert_eq!(
            (status, err["error"].as_str(), err["reason"].as_str()),
            (400, Some("invalid_request"), Some(field)),
            "{err}"
        );
        assert!(err["message"].as_str().unwrap().contains(says), "{err}");
    }
    let (status, err) = city
        .api_post(
            &token,
            &format!("/api/v1/services/{fare}/versions"),
            &json!({"name_en": "x", "name_zh": "x", "category": "c",
            "purpose": " ", "required_scopes": ["transit.trips"], "retention_days": 30, "access_mode": "ongoing"}),
        )
        .await;
    assert_eq!((status, err["reason"].as_str()), (400, Some("purpose")), "{err}");
    let (status, err) = city.api_post(&token, "/api/v1/services/not-a-uuid/reads", &json!({})).await;
    assert_eq!((status, err["reason"].as_str()), (400, Some("path")), "{err}");

    // A wrong method or an unknown path still answers in the API's JSON.
    let resp =
        reqwest::Client::new().get(format!("{}{reads}", city.portal.url)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!((err["error"].as_str(), err["reason"].as_str()), (Some("method_not_allowed"), Some("GET")));
    let (status, err) = city.api_get(&token, "/api/v1/no-such-thing").await;
    assert_eq!((status, err["error"].as_str()), (404, Some("not_found")));

    // Oversized body: 413 with the JSON error, nothing read.
    let huge = json!({"pseudonym": "ab".repeat(32), "scopes": vec!["transit.trips"; 10_000]});
    let (status, err) = city.api_post(&token, &reads, &huge).await;
    assert_eq!((status, err["error"].as_str()), (413, Some("payload_too_large")));

    // 300 a minute, bursts of 30: a quick run of requests is cut off with Retry-After.
    let mut limited = None;
    for i in 0..100 {
        let resp = reqwest::Client::new()
            .get(format!("{}/api/v1/services", city.portal.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            assert!(resp.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
            let body: serde_json::Value = resp.json().await.unwrap();
            assert_eq!(body["error"], "rate_limited");
            limited = Some(i);
            break;
        }
    }
    assert!(limited.is_some_and(|i| i < 31), "limited after {limited:?} more requests");
    // Another client is not affected by this one's limit.
    let health = city.health_token().await;
    assert_eq!(city.api_get(&health, "/api/v1/services").await.0, 200);
    city.shutdown().await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_openapi_document_describes_every_endpoint_and_error(_p: PgPoolOptions, opts: PgConnectOptions) {
    let city = City::start(&opts, &[]).await;
    let doc: serde_json::Value =
        reqwest::get(format!("{}/api/v1/openapi.json", city.portal.url)).await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/services",
        "/api/v1/services/{service_id}/versions",
        "/api/v1/services/{service_id}/withdraw",
        "/api/v1/services/{service_id}/grants",
        "/api/v1/services/{service_id}/reads",
        "/api/v1/receipts/{receipt_id}/bundle",
    ] {
        let item = paths.get(p).unwrap_or_else(|| panic!("{p} missing"));
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for code in ["401", "429"] {
                let r = responses.get(code).unwrap_or_else(|| panic!("{method} {p} lacks {code}"));
                assert_eq!(r["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody");
            }
        }
    }
    let reasons = &doc["components"]["schemas"]["DenyReason"]["enum"];
    for r in ["no_grant", "pending", "expired", "revoked", "scope_not_granted", "frequency_exceeded", "integrity"] {
        assert!(reasons.as_array().unwrap().iter().any(|v| v == r), "{r} missing from {reasons}");
    }
    city.shutdown().await;
}
