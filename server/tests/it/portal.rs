//! The portal's own server functions and routes over HTTP with real sessions: My City is
//! filled only through a verified permission and only with its resident's data, the public
//! city and the Transparency data need no sign-in, the language choice follows the account,
//! and a form posted without JavaScript comes back to its page with the error.

use crate::harness::{City, browser, location, sign_in};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

fn cards(city: &Value) -> Vec<(String, String)> {
    city["cards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let check = c["check"].as_str().map_or_else(|| "Verified".to_owned(), str::to_owned);
            (c["grant"]["service_name_en"].as_str().unwrap().to_owned(), check)
        })
        .collect()
}

fn offers(city: &Value) -> Vec<String> {
    city["offers"].as_array().unwrap().iter().map(|o| o["name_en"].as_str().unwrap().to_owned()).collect()
}

fn notices(city: &Value) -> Vec<String> {
    city["notices"].as_array().unwrap().iter().map(|n| n["notice_id"].as_str().unwrap().to_owned()).collect()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn my_city_is_filled_only_through_a_verified_permission_and_only_for_its_resident(
    _p: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let mut city = City::start(&opts, &[]).await;
    server::seed::seed_places(&city.db).await.unwrap();
    let (li, maria) = (browser(), browser());
    sign_in(&li, &city.portal, "resident1").await;
    sign_in(&maria, &city.portal, "resident2").await;
    // The demo seed fills in the two accounts and issues resident1's two permissions.
    let issuer = city.portal.idp.issuer.clone();
    server::seed::seed_residents(&city.db, &issuer, &city.portal.state.pseudonyms).await.unwrap();

    // Not yet cosigned: the cards say so and show no data.
    let (status, mine) = city.server_fn(&li, "me/city", &[]).await;
    assert_eq!(status, 200, "{mine}");
    let mut pending = cards(&mine);
    pending.sort();
    assert_eq!(
        pending,
        [("Fare capping".to_owned(), "Pending".to_owned()), ("Senior health check".to_owned(), "Pending".to_owned())]
    );
    assert!(mine["cards"].as_array().unwrap().iter().all(|c| c["parts"] == Value::Array(vec![])), "{mine}");

    city.settle().await;
    let (_, mine) = city.server_fn(&li, "me/city", &[]).await;
    assert!(cards(&mine).iter().all(|(_, check)| check == "Verified"), "{mine}");
    let fare =
        mine["cards"].as_array().unwrap().iter().find(|c| c["grant"]["service_name_en"] == "Fare capping").unwrap();
    let trips = fare["parts"].as_array().unwrap().iter().find_map(|p| p.get("Trips")).expect("a trips part");
    assert!(trips["count"].as_i64().unwrap() > 0, "this month's trips: {trips}");
    assert_eq!(
        trips["spend_cents"].as_i64().unwrap(),
        trips["count"].as_i64().unwrap() * 300,
        "every seeded trip costs 3.00"
    );
    let clinic = mine["cards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["grant"]["service_name_en"] == "Senior health check")
        .unwrap();
    let eligibility = clinic["parts"][0]["Eligibility"].clone();
    assert_eq!(eligibility["eligible"], Value::Bool(true), "born 1955: {clinic}");
    assert_eq!(eligibility["clinic"]["facility_id"], "harbor-clinic");
    assert_eq!(mine["district"]["district_id"], "harbor");
    let home: Vec<&Value> = mine["map"]["areas"].as_array().unwrap().iter().filter(|a| a["home"] == true).collect();
    assert_eq!(home.len(), 1);
    assert_eq!(home[0]["district_id"], "harbor");
    assert!(notices(&mine).contains(&"harbor-flu-clinic".to_owned()));
    assert!(!notices(&mine).contains(&"riverside-water-works".to_owned()), "another district's notice");
    assert!(!offers(&mine).contains(&"Fare capping".to_owned()), "an enabled service is not offered again");

    // resident2 sees another city: no cards, other notices, the services as offers.
    let (_, hers) = city.server_fn(&maria, "me/city", &[]).await;
    assert_eq!(hers["name"], "Maria Santos");
    assert_eq!(hers["district"]["district_id"], "riverside");
    assert!(cards(&hers).is_empty(), "{hers}");
    assert!(offers(&hers).contains(&"Fare capping".to_owned()));
    assert!(notices(&hers).contains(&"riverside-water-works".to_owned()));
    assert!(!notices(&hers).contains(&"harbor-flu-clinic".to_owned()));
    assert!(!hers.to_string().contains("Li Wei"), "nothing of resident1 in resident2's city");

    // Revoked: the card goes, the offer comes back.
    let grant = fare["grant"]["grant_id"].as_str().unwrap().to_owned();
    let (status, _) = city.server_fn(&li, "me/grants/revoke", &[("grant_id", grant)]).await;
    assert_eq!(status, 200);
    let (_, mine) = city.server_fn(&li, "me/city", &[]).await;
    assert_eq!(cards(&mine), [("Senior health check".to_owned(), "Verified".to_owned())]);
    assert!(offers(&mine).contains(&"Fare capping".to_owned()));

    // Only residents have a My City; the public city and the ledger's state are for everyone.
    let anonymous = browser();
    let (status, _) = city.server_fn(&anonymous, "me/city", &[]).await;
    assert_eq!(status, 401);
    let staff = browser();
    sign_in(&staff, &city.portal, "staff1").await;
    let (status, _) = city.server_fn(&staff, "me/city", &[]).await;
    assert_eq!(status, 403);
    let (status, public) = city.server_fn(&anonymous, "city", &[]).await;
    assert_eq!(status, 200, "{public}");
    assert_eq!(public["districts"].as_array().unwrap().len(), 6);
    assert_eq!(public["map"]["areas"].as_array().unwrap().len(), 6);
    assert!(public["services"].as_array().unwrap().iter().all(|s| s["granted"].is_null()));
    let (status, ledger) = city.server_fn(&anonymous, "transparency", &[]).await;
    assert_eq!(status, 200, "{ledger}");
    assert_eq!(ledger["witnesses"].as_array().unwrap().len(), 4);
    assert_eq!(ledger["quorum"], 3);
    assert!(ledger["checkpoint"]["tree_size"].as_i64().unwrap() > 0);
    assert!(ledger["witnesses"].as_array().unwrap().iter().filter(|w| !w["last_cosigned_at"].is_null()).count() >= 3);
    city.shutdown().await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_language_choice_is_kept_in_a_cookie_and_follows_the_account(_p: PgPoolOptions, opts: PgConnectOptions) {
    let city = City::start(&opts, &[]).await;
    let url = city.portal.url.clone();
    let visitor = browser();
    let page = |c: &reqwest::Client, path: &str| {
        let req = c.get(format!("{url}{path}"));
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    assert!(page(&visitor, "/").await.contains("<html lang=\"en\""));
    // The browser's preference, until a choice is made.
    let zh = visitor.get(format!("{url}/")).header("accept-language", "zh-CN,zh;q=0.9,en;q=0.5").send().await.unwrap();
    assert!(zh.text().await.unwrap().contains("<html lang=\"zh-CN\""));

    let switch = |c: &reqwest::Client, lang: &str, back: &str| {
        c.post(format!("{url}/locale")).header("origin", url.clone()).form(&[("lang", lang), ("back", back)]).send()
    };
    let resp = switch(&visitor, "zh-CN", "/transparency").await.unwrap();
    assert_eq!(resp.status(), 303);
    assert!(location(&resp).ends_with("/transparency"));
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("lang=zh-CN;") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let html = page(&visitor, "/transparency").await;
    assert!(html.contains("<html lang=\"zh-CN\"") && html.contains("公开透明"), "the page is in Chinese");

    // Bad input is named; the way back never leaves the portal; other sites cannot switch it.
    let resp = switch(&visitor, "fr", "/").await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("lang"), "the error names the field");
    let resp = switch(&visitor, "en", "//evil.example/").await.unwrap();
    assert_eq!(location(&resp), format!("{url}/"));
    let resp = visitor
        .post(format!("{url}/locale"))
        .header("origin", "http://evil.example")
        .form(&[("lang", "en")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);

    // Signed in, the choice goes into the account and comes back at the next sign-in elsewhere.
    let li = browser();
    sign_in(&li, &city.portal, "resident1").await;
    assert_eq!(switch(&li, "zh-CN", "/").await.unwrap().status(), 303);
    let chosen: Option<String> = sqlx::query_scalar("select portal_locale from account where subject = 'resident1'")
        .fetch_one(&city.db)
        .await
        .unwrap();
    assert_eq!(chosen.as_deref(), Some("zh-CN"));
    let elsewhere = browser();
    sign_in(&elsewhere, &city.portal, "resident1").await;
    let html = page(&elsewhere, "/").await;
    assert!(html.contains("<html lang=\"zh-CN\"") && html.contains("您好"), "remembered for the account");
    city.shutdown().await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_form_posted_without_javascript_comes_back_to_its_page_with_the_error(
    _p: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let city = City::start(&opts, &[]).await;
    let url = city.portal.url.clone();
    let li = browser();
    sign_in(&li, &city.portal, "resident1").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    // As a browser posts an ActionForm with JavaScript off.
    let resp = li
        .post(format!("{url}/api/me/grants/revoke"))
        .header("origin", url.clone())
        .header("accept", "text/html,application/xhtml+xml")
        .header("referer", format!("{url}/permissions"))
        .form(&[("grant_id", unknown.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302, "a redirect back, not a page of JSON");
    let back = location(&resp);
    assert!(back.starts_with(&format!("{url}/permissions?")) && back.contains("__err="), "{back}");
    let html = li.get(&back).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("role=\"alert\"") && html.contains("no such grant"), "the page shows the error");

    // Script and API callers keep their status codes.
    let (status, err) = city.server_fn(&li, "me/grants/revoke", &[("grant_id", unknown)]).await;
    assert_eq!(status, 404, "{err}");
    city.shutdown().await;
}

/// Every process keeps the city's slow-changing tables in memory (migration 0011). A change
/// committed by anyone, here straight into the database as another process would, shows on the
/// very next request: no waiting for a cache to expire.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_change_to_the_city_shows_on_the_next_request(_p: PgPoolOptions, opts: PgConnectOptions) {
    let city = City::start(&opts, &[]).await;
    server::seed::seed_places(&city.db).await.unwrap();
    let issuer = city.portal.idp.issuer.clone();
    server::seed::seed_residents(&city.db, &issuer, &city.portal.state.pseudonyms).await.unwrap();
    let (anonymous, maria) = (browser(), browser());
    sign_in(&maria, &city.portal, "resident2").await;
    let catalogue = |v: &Value| -> Vec<String> {
        v["services"].as_array().unwrap().iter().map(|o| o["name_en"].as_str().unwrap().to_owned()).collect()
    };
    let (_, before) = city.server_fn(&anonymous, "city", &[]).await;
    assert!(catalogue(&before).contains(&"Fare capping".to_owned()), "{before}");
    let (_, hers) = city.server_fn(&maria, "me/city", &[]).await;
    assert!(offers(&hers).contains(&"Fare capping".to_owned()));

    // A notice for resident2's district, one not yet published, one already expired, and a
    // withdrawn service.
    sqlx::query(
        "insert into notice (notice_id, district_id, agency_id, title_en, title_zh, body_en, body_zh, published_at, expires_at)
         select id, 'riverside', agency_id, 'Title', '标题', 'Body', '正文', now() + shift, now() + shift + interval '1 day'
         from (values ('riverside-now', interval '-1 hour'), ('riverside-later', interval '1 day'),
                      ('riverside-past', interval '-2 days')) as n (id, shift),
              (select agency_id from agency order by agency_id limit 1) as a",
    )
    .execute(&city.db)
    .await
    .unwrap();
    sqlx::query(
        "update service set status = 'withdrawn'
         where service_id = (select service_id from service_version where name_en = 'Fare capping' limit 1)",
    )
    .execute(&city.db)
    .await
    .unwrap();

    let (_, after) = city.server_fn(&anonymous, "city", &[]).await;
    assert!(!catalogue(&after).contains(&"Fare capping".to_owned()), "withdrawn: {after}");
    let (_, hers) = city.server_fn(&maria, "me/city", &[]).await;
    assert!(!offers(&hers).contains(&"Fare capping".to_owned()), "withdrawn: {hers}");
    let current = notices(&hers);
    assert!(current.contains(&"riverside-now".to_owned()), "{hers}");
    assert!(!current.contains(&"riverside-later".to_owned()), "not yet published: {hers}");
    assert!(!current.contains(&"riverside-past".to_owned()), "expired: {hers}");
    city.shutdown().await;
}

/// The home page as a browser gets it: the nonce of its Content-Security-Policy and the HTML.
async fn home(client: &reqwest::Client, city: &City, language: &str) -> (String, String) {
    let resp = client.get(format!("{}/", city.portal.url)).header("accept-language", language).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let nonce = csp.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).expect("a nonce").to_owned();
    (nonce, resp.text().await.unwrap())
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_reloaded_home_page_is_the_same_until_something_it_shows_changes(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    server::seed::seed_places(&city.db).await.unwrap();
    let (li, maria, anonymous) = (browser(), browser(), browser());
    sign_in(&li, &city.portal, "resident1").await;
    sign_in(&maria, &city.portal, "resident2").await;
    let issuer = city.portal.idp.issuer.clone();
    server::seed::seed_residents(&city.db, &issuer, &city.portal.state.pseudonyms).await.unwrap();
    let resident = city.resident_of("resident1").await;

    // Pending until cosigned; the checkpoint that cosigns it shows at once.
    let (_, page) = home(&li, &city, "en").await;
    assert!(page.contains(r#"data-check="pending""#) && !page.contains(r#"data-check="verified""#));
    city.settle().await;
    let (first_nonce, first) = home(&li, &city, "en").await;
    assert!(first.contains(r#"data-check="verified""#) && !first.contains(r#"data-check="pending""#));

    // The same page again, served from memory, with a nonce of its own in the policy and in
    // every script.
    let cache = city.portal.state.page_cache.clone();
    let stats = || cache.stats();
    let before = stats();
    let (nonce, again) = home(&li, &city, "en").await;
    assert_eq!(stats().reused, before.reused + 1, "{:?}", stats());
    assert_ne!(nonce, first_nonce);
    assert!(again.contains(&format!(r#"nonce="{nonce}""#)) && !again.contains(&first_nonce));
    assert_eq!(again.replace(&nonce, "N"), first.replace(&first_nonce, "N"));

    // A newer checkpoint (someone else's permission cosigned): the cards are checked again at
    // it, the verdicts are the same, and the page is reused.
    let maria_id = city.resident_of("resident2").await;
    let fare = city.service("fare-capping").await;
    city.grant(maria_id, fare, &["transit.trips"], 30).await;
    city.settle().await;
    let before = stats();
    let (nonce, again) = home(&li, &city, "en").await;
    assert_eq!((stats().reused, stats().rechecked), (before.reused + 1, before.rechecked + 1), "{:?}", stats());
    assert_eq!(again.replace(&nonce, "N"), first.replace(&first_nonce, "N"));
    // Another language, another session, no session: other pages.
    let other = if first.contains(r#"<html lang="en""#) { "zh-CN" } else { "en" };
    let resp = li.post(format!("{}/locale", city.portal.url)).form(&[("lang", other)]).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let (_, translated) = home(&li, &city, "en").await;
    assert!(translated.contains(&format!(r#"<html lang="{other}""#)), "the page in {other}");
    let (_, hers) = home(&maria, &city, "en").await;
    assert!(hers.contains("Maria Santos") && !hers.contains("Li Wei"), "nothing of resident1's");
    let (_, public) = home(&anonymous, &city, "en").await;
    assert!(!public.contains("Li Wei") && !public.contains("Maria Santos"));

    // A trip recorded now, as an ingest would write it: in the next view.
    let mut tx = city.db.begin().await.unwrap();
    let trip = serde_json::json!({"from": "Lantern Quay", "to": "Museum", "fare_cents": 300});
    server::domain::records::add_behavioral(
        &mut tx,
        resident,
        "transit.trips",
        &[(time::OffsetDateTime::now_utc(), trip)],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let before = stats();
    let (_, page) = home(&li, &city, "en").await;
    assert!(page.contains("Lantern Quay"), "the new trip");
    assert_eq!(stats().rendered, before.rendered + 1, "{:?}", stats());

    // The account renamed (as the next sign-in would do): in the next view.
    sqlx::query("update account set display_name = 'Li Wei-Chen' where subject = 'resident1'")
        .execute(&city.db)
        .await
        .unwrap();
    let (_, page) = home(&li, &city, "en").await;
    assert!(page.contains("Li Wei-Chen"));

    // A permission edited behind the server's back: the page checks it again and says so.
    sqlx::query("update data_grant set valid_until = valid_until + interval '1 year' where resident_id = $1")
        .bind(resident)
        .execute(&city.db)
        .await
        .unwrap();
    let (_, page) = home(&li, &city, "en").await;
    assert!(page.contains(r#"data-check="integrity""#), "the edited row is caught");

    // The session ended elsewhere (another process signed out, or it expired): the public city.
    sqlx::query("delete from tower_sessions.session").execute(&city.db).await.unwrap();
    let (_, page) = home(&li, &city, "en").await;
    assert!(!page.contains("Li Wei"), "no resident's page without a session");
    city.shutdown().await;
}

/// The attack of the review (#21): a request carrying a resident's session cookie plus cookies
/// that the page cache once read differently from the session layer (a non-ASCII cookie in the
/// same header, the name with a space before `=`, the name percent-encoded). The session layer
/// resolved the resident's session and the app rendered their My City; the cache, reading no
/// session, kept it as the public home page, and every signed-out visitor got it. Now the cache
/// keys on the session the layer resolved and keeps nothing for ambiguous cookies, and
/// personalized responses say `Cache-Control: private, no-store`.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_residents_page_is_never_served_to_anyone_else(_p: PgPoolOptions, opts: PgConnectOptions) {
    use reqwest::cookie::CookieStore;
    use std::sync::Arc;
    let mut city = City::start(&opts, &[]).await;
    server::seed::seed_places(&city.db).await.unwrap();
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let li = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    sign_in(&li, &city.portal, "resident1").await;
    let issuer = city.portal.idp.issuer.clone();
    server::seed::seed_residents(&city.db, &issuer, &city.portal.state.pseudonyms).await.unwrap();
    city.settle().await;
    let url: reqwest::Url = format!("{}/", city.portal.url).parse().unwrap();
    let session = crate::harness::session_cookie(jar.cookies(&url).as_ref()).expect("a session cookie");
    let (_, mine) = home(&li, &city, "en").await;
    assert!(mine.contains("Li Wei"), "resident1's own city");

    let attacks: [Vec<Vec<u8>>; 4] = [
        vec![format!("onecity_session={session}; tracker=caf\u{e9}").into_bytes()],
        vec![format!("onecity_session ={session}").into_bytes()],
        vec![format!("onecity%5Fsession={session}").into_bytes()],
        vec![b"tracker=caf\xc3\xa9".to_vec(), format!("onecity_session={session}").into_bytes()],
    ];
    let raw = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for cookies in attacks {
        let mut request = raw.get(url.clone()).header("accept-language", "en");
        for c in &cookies {
            request = request.header(reqwest::header::COOKIE, reqwest::header::HeaderValue::from_bytes(c).unwrap());
        }
        let victim = request.send().await.unwrap();
        assert_eq!(victim.status(), 200);
        assert_eq!(victim.headers()["cache-control"], "private, no-store", "a personalized page");
        let page = victim.text().await.unwrap();
        assert!(
            page.contains("Li Wei"),
            "the session layer reads this session: {:?}",
            String::from_utf8_lossy(&cookies[0])
        );
        // Twice, so a kept page would be served from memory.
        for _ in 0..2 {
            let (_, public) = home(&browser(), &city, "en").await;
            assert!(!public.contains("Li Wei"), "resident1's city served to a signed-out visitor after {cookies:?}");
        }
    }
    // The resident's own reloads are still served from memory, under their own session.
    let before = city.portal.state.page_cache.stats();
    let (_, again) = home(&li, &city, "en").await;
    assert!(again.contains("Li Wei"));
    assert_eq!(city.portal.state.page_cache.stats().reused, before.reused + 1);
    let resp = li.get(url.clone()).send().await.unwrap();
    assert_eq!(resp.headers()["cache-control"], "private, no-store");
    city.shutdown().await;
}
