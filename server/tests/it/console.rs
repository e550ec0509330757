//! The agency console's server functions with real staff sessions: staff of one agency list,
//! publish and read through the gate for their own services only; staff of another agency,
//! residents and anonymous visitors are refused, and nothing they try leaves a trace.

use crate::harness::{City, browser, sign_in};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn staff_work_only_on_their_own_agencys_services(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    let fare = city.service("fare-capping").await;
    let li = city.resident("li").await;
    city.grant(li, fare, &["transit.trips"], 9).await;
    city.settle().await;
    city.trips_now(li, 4).await;

    let staff1 = browser();
    sign_in(&staff1, &city.portal, "staff1").await;
    let (status, services) = city.server_fn(&staff1, "agency/services", &[]).await;
    assert_eq!(status, 200, "{services}");
    let slugs: Vec<&str> = services.as_array().unwrap().iter().map(|s| s["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["fare-capping"]);
    let (_, listed) = city.server_fn(&staff1, "agency/grants", &[("service_id", fare.to_string())]).await;
    let pseudonym = listed[0]["pseudonym"].as_str().unwrap().to_owned();
    assert_eq!(pseudonym, city.pseudonym(li, fare));

    // A read through the console passes the same gate and names the staff member by a pseudonym.
    let read_form = vec![
        ("service_id", fare.to_string()),
        ("pseudonym", pseudonym.clone()),
        ("scopes[0]", "transit.trips".to_owned()),
    ];
    let (status, body) = city.server_fn(&staff1, "agency/read", &read_form).await;
    assert_eq!(status, 200, "{body}");
    let result: Value = serde_json::from_str(body.as_str().unwrap()).unwrap();
    assert_eq!(result["data"]["transit.trips"]["records"].as_array().unwrap().len(), 4, "the trips since the grant");
    let reader: String = sqlx::query_scalar("select reader from access_receipt").fetch_one(&city.db).await.unwrap();
    let staff_account: uuid::Uuid = sqlx::query_scalar("select account_id from account where subject = 'staff1'")
        .fetch_one(&city.db)
        .await
        .unwrap();
    // The public receipt names the staff member by a pseudonym, never by their account.
    assert_eq!(reader, format!("transit-authority/console/{}", city.portal.state.pseudonyms.staff_id(staff_account)));
    assert!(!reader.contains(&staff_account.to_string()), "{reader}");
    let (status, body) = city
        .server_fn(
            &staff1,
            "agency/read",
            &[("service_id", fare.to_string()), ("pseudonym", "cd".repeat(32)), ("scopes[0]", "transit.trips".into())],
        )
        .await;
    assert_eq!((status, body["Denied"]["reason"].as_str()), (403, Some("no_grant")), "{body}");

    // Publishing a new version from the console, with a field error first.
    let mut version = vec![
        ("service_id", fare.to_string()),
        ("version[name_en]", "Fare capping".to_owned()),
        ("version[name_zh]", "票价封顶".to_owned()),
        ("version[category]", "transport".to_owned()),
        ("version[purpose]", "Cap your monthly fares using your trips".to_owned()),
        ("version[required_scopes][0]", "transit.trips".to_owned()),
        ("version[retention_days]", "0".to_owned()),
        ("version[access_mode]", "ongoing".to_owned()),
    ];
    let (status, err) = city.server_fn(&staff1, "agency/services/publish", &version).await;
    assert_eq!((status, err["Invalid"]["field"].as_str()), (400, Some("retention_days")), "{err}");
    version[6].1 = "60".to_owned();
    let (status, published) = city.server_fn(&staff1, "agency/services/publish", &version).await;
    assert_eq!((status, published["version"].as_i64()), (200, Some(2)), "{published}");

    // Staff of another agency, a resident and an anonymous visitor get nothing.
    let staff2 = browser();
    sign_in(&staff2, &city.portal, "staff2").await;
    let resident = browser();
    sign_in(&resident, &city.portal, "resident1").await;
    let anonymous = browser();
    let calls: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("agency/grants", vec![("service_id", fare.to_string())]),
        ("agency/read", read_form.clone()),
        ("agency/services/publish", version.clone()),
        ("agency/services/withdraw", vec![("service_id", fare.to_string())]),
    ];
    for (name, form) in &calls {
        let (status, body) = city.server_fn(&staff2, name, form).await;
        assert_eq!(status, 404, "staff2 {name}: {body}");
        assert!(!body.to_string().contains(&pseudonym), "staff2 {name}: {body}");
        let (status, body) = city.server_fn(&resident, name, form).await;
        assert_eq!(
            (status, body.get("NotStaff").is_some() || body == "NotStaff"),
            (403, true),
            "resident {name}: {body}"
        );
        let (status, body) = city.server_fn(&anonymous, name, form).await;
        assert_eq!(status, 401, "anonymous {name}: {body}");
    }
    let (_, theirs) = city.server_fn(&staff2, "agency/services", &[]).await;
    let slugs: Vec<&str> = theirs.as_array().unwrap().iter().map(|s| s["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["senior-clinic"]);
    let receipts: i64 = sqlx::query_scalar("select count(*) from access_receipt").fetch_one(&city.db).await.unwrap();
    assert_eq!(receipts, 1, "only staff1's read left a receipt");
    let status: String = sqlx::query_scalar("select status from service where service_id = $1")
        .bind(fare)
        .fetch_one(&city.db)
        .await
        .unwrap();
    assert_eq!(status, "published", "nobody else withdrew it");
    let versions: i64 = sqlx::query_scalar("select count(*) from service_version where service_id = $1")
        .bind(fare)
        .fetch_one(&city.db)
        .await
        .unwrap();
    assert_eq!(versions, 2, "nobody else published");
    city.shutdown().await;
}
