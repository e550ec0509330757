//! The sign-in flow end to end: the real provider, the real router, the real database.

use crate::harness::{Portal, browser, follow, location, me, open_login_form, sign_in_until_callback, submit_login};
use sqlx::PgPool;

/// Sign in as resident1: the portal knows the name from the provider, creates the account
/// and resident records once, rotates the session id, and logout ends the session and
/// hands the browser to the provider's end-session endpoint with an id_token_hint.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn resident_signs_in_sees_their_name_and_signs_out(db: PgPool) {
    let portal = Portal::start(db.clone()).await;
    let client = browser();

    // A session exists before login (it holds the PKCE verifier, state and nonce).
    let start = client.get(format!("{}/auth/login?return_to=/welcome", portal.url)).send().await.unwrap();
    let cookie_before = start.headers().get("set-cookie").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert!(cookie_before.as_deref().unwrap_or("").contains("HttpOnly"), "session cookie must be HttpOnly");
    assert!(cookie_before.as_deref().unwrap_or("").contains("SameSite=Lax"));
    let authorize = location(&start);
    assert!(authorize.starts_with(&portal.idp.issuer), "{authorize}");
    assert!(authorize.contains("code_challenge_method=S256"));
    assert!(authorize.contains("nonce=") && authorize.contains("state="));

    let (action, _) = open_login_form(&client, &portal).await;
    let resp = submit_login(&client, &action, "resident1", "password").await;
    let callback = follow(&client, location(&resp), |u| u.contains("/auth/callback")).await.unwrap_err();
    let done = client.get(&callback).send().await.unwrap();
    assert_eq!(location(&done), format!("{}/", portal.url), "return_to of the login that completed");
    let cookie_after = done.headers().get("set-cookie").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let id = |c: &Option<String>| c.as_deref().and_then(|c| c.split(';').next()).map(str::to_owned);
    assert!(id(&cookie_after).is_some(), "login must set a new session cookie");
    assert_ne!(id(&cookie_before), id(&cookie_after), "session id must rotate at login");

    let who = me(&client, &portal).await;
    assert_eq!(who["name"], "Li Wei");
    assert_eq!(who["is_resident"], true);
    assert_eq!(who["roles"], serde_json::json!(["resident"]));

    let home = client.get(&portal.url).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("Li Wei"), "the page shows the signed-in name");

    let accounts: i64 =
        sqlx::query_scalar("select count(*) from account where subject = 'resident1'").fetch_one(&db).await.unwrap();
    let residents: i64 = sqlx::query_scalar("select count(*) from resident").fetch_one(&db).await.unwrap();
    assert_eq!((accounts, residents), (1, 1));

    // Logout is a POST; it ends our session and sends the browser to the provider.
    let out = client.post(format!("{}/auth/logout", portal.url)).send().await.unwrap();
    let end_session = location(&out);
    assert!(end_session.starts_with(&format!("{}/session/end", portal.idp.issuer)), "{end_session}");
    assert!(end_session.contains("id_token_hint="));
    assert!(end_session.contains("post_logout_redirect_uri="));
    assert_eq!(me(&client, &portal).await, serde_json::Value::Null, "signed out after logout");

    // Signing in again reuses the same account and resident rows.
    let client2 = browser();
    let callback = sign_in_until_callback(&client2, &portal, "resident1").await;
    client2.get(&callback).send().await.unwrap();
    let residents: i64 = sqlx::query_scalar("select count(*) from resident").fetch_one(&db).await.unwrap();
    assert_eq!(residents, 1);
}

/// A wrong password shows the provider's error and never reaches the portal.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn wrong_password_is_refused_and_nobody_is_signed_in(db: PgPool) {
    let portal = Portal::start(db.clone()).await;
    let client = browser();
    let (action, _) = open_login_form(&client, &portal).await;
    let resp = submit_login(&client, &action, "resident1", "not-the-password").await;
    assert_eq!(resp.status(), 401);
    assert!(resp.text().await.unwrap().contains("Invalid username or password"));
    assert_eq!(me(&client, &portal).await, serde_json::Value::Null);
    let accounts: i64 = sqlx::query_scalar("select count(*) from account").fetch_one(&db).await.unwrap();
    assert_eq!(accounts, 0);
}

/// A callback whose state was changed is refused, and the pending login is spent: the
/// untampered callback cannot be used afterwards either.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn tampered_state_is_refused_and_spends_the_login(db: PgPool) {
    let portal = Portal::start(db.clone()).await;
    let client = browser();
    let callback = sign_in_until_callback(&client, &portal, "resident1").await;
    let mut url = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" { format!("{v}x") } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);

    let tampered = client.get(url.as_str()).send().await.unwrap();
    assert_eq!(tampered.status(), 400);
    assert!(tampered.text().await.unwrap().contains("Sign-in did not complete"));
    let original = client.get(&callback).send().await.unwrap();
    assert_eq!(original.status(), 400, "the state was consumed by the first attempt");
    assert_eq!(me(&client, &portal).await, serde_json::Value::Null);
}

/// An authorization code works once. Someone who replays a redeemed code inside their own,
/// fresh login attempt (valid state) is refused by the provider, and is not signed in.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_replayed_code_is_refused(db: PgPool) {
    let portal = Portal::start(db.clone()).await;
    let victim = browser();
    let callback = sign_in_until_callback(&victim, &portal, "resident1").await;
    assert_eq!(victim.get(&callback).send().await.unwrap().status(), 303);
    let code = url::Url::parse(&callback).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();

    let attacker = browser();
    let start = attacker.get(format!("{}/auth/login", portal.url)).send().await.unwrap();
    let authorize = url::Url::parse(&location(&start)).unwrap();
    let state = authorize.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let replay = attacker
        .get(format!("{}/auth/callback", portal.url))
        .query(&[("code", code.as_str()), ("state", state.as_str()), ("iss", portal.idp.issuer.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);
    assert_eq!(me(&attacker, &portal).await, serde_json::Value::Null);
}

/// A provider error (the user pressed cancel) ends in a clear page, not a session.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_cancelled_login_shows_an_error_page(db: PgPool) {
    let portal = Portal::start(db.clone()).await;
    let client = browser();
    let start = client.get(format!("{}/auth/login", portal.url)).send().await.unwrap();
    let authorize = url::Url::parse(&location(&start)).unwrap();
    let state = authorize.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let resp = client
        .get(format!("{}/auth/callback", portal.url))
        .query(&[("error", "access_denied"), ("state", state.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(me(&client, &portal).await, serde_json::Value::Null);
}

/// State-changing requests from another origin are refused before they reach a handler.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn cross_origin_posts_are_refused(db: PgPool) {
    let portal = Portal::start(db.clone()).await;
    let client = browser();
    let resp = client
        .post(format!("{}/auth/logout", portal.url))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let same = client.post(format!("{}/auth/logout", portal.url)).header("origin", &portal.url).send().await.unwrap();
    assert_eq!(same.status(), 303);
}

/// Health, readiness and the security headers every response carries.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn health_readiness_and_security_headers(db: PgPool) {
    let portal = Portal::start(db.clone()).await;
    let client = browser();
    assert_eq!(client.get(format!("{}/healthz", portal.url)).send().await.unwrap().status(), 200);
    assert_eq!(client.get(format!("{}/readyz", portal.url)).send().await.unwrap().status(), 200);
    let page = client.get(&portal.url).send().await.unwrap();
    let h = page.headers().clone();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "same-origin");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("'nonce-"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let body = page.text().await.unwrap();
    let nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap();
    assert!(body.contains(&format!("nonce=\"{nonce}\"")), "inline scripts carry the response's nonce");
    db.close().await;
    // With the database gone, readiness says so while liveness still answers.
    assert_eq!(client.get(format!("{}/readyz", portal.url)).send().await.unwrap().status(), 503);
    assert_eq!(client.get(format!("{}/healthz", portal.url)).send().await.unwrap().status(), 200);
}

/// The idle timeout is an idle timeout (#21): tower-sessions moves a session's stored expiry
/// only when the session is saved, so a session that is only read used to expire a fixed time
/// after sign-in, however busy its owner. With a one-minute idle time, a resident who keeps
/// reading for 75 seconds stays signed in; one who stops for longer than a minute does not.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_session_in_use_outlives_the_idle_time_and_an_idle_one_does_not(db: PgPool) {
    let portal =
        Portal::start_with(db.clone(), crate::harness::TempDir::new("keys"), &["--session-idle-minutes=1".to_owned()])
            .await;
    let client = browser();
    crate::harness::sign_in(&client, &portal, "resident1").await;
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(75) {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        let who = me(&client, &portal).await;
        assert_eq!(who["name"], "Li Wei", "signed in after {:?} of use", started.elapsed());
    }
    tokio::time::sleep(std::time::Duration::from_secs(65)).await;
    assert!(me(&client, &portal).await.is_null(), "signed out after a minute without a request");
}

/// Unauthenticated work is bounded (#21): every `GET /auth/login` writes a session row and
/// every proof bundle costs map proofs and signature checks, so both are limited per client
/// address; server functions of a signed-in browser have a budget of their own, per session.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn sign_in_starts_bundles_and_server_functions_are_rate_limited(db: PgPool) {
    let portal = Portal::start_with(
        db.clone(),
        crate::harness::TempDir::new("keys"),
        &["--portal-rate-per-minute=60".to_owned()],
    )
    .await;
    let resident = browser();
    crate::harness::sign_in(&resident, &portal, "resident1").await;
    let sessions_before: i64 =
        sqlx::query_scalar("select count(*) from tower_sessions.session").fetch_one(&db).await.unwrap();

    // A burst of sign-in starts from one address: bursts of a tenth of the budget, then 429.
    let flood = browser();
    let mut refused = 0;
    for _ in 0..20 {
        let resp = flood.get(format!("{}/auth/login", portal.url)).send().await.unwrap();
        if resp.status() == 429 {
            assert!(resp.headers().get("retry-after").is_some(), "429 says when to come back");
            refused += 1;
        } else {
            assert!(resp.status().is_redirection(), "{}", resp.status());
        }
    }
    assert!(refused >= 10, "{refused} of 20 refused");
    // The same address's proof bundles share that budget.
    let bundle = reqwest::get(format!("{}/ledger/bundle/0", portal.url)).await.unwrap();
    assert_eq!(bundle.status(), 429);
    let sessions: i64 = sqlx::query_scalar("select count(*) from tower_sessions.session").fetch_one(&db).await.unwrap();
    assert!(sessions - sessions_before <= 20 - refused, "a refused start writes no session row");

    // The signed-in resident's server functions are counted against their session, not the
    // address.
    for i in 0..4 {
        let who = me(&resident, &portal).await;
        assert_eq!(who["name"], "Li Wei", "call {i}");
    }
}
