//! The real portal router on a loopback port, and a browser-like client to sign in with.

use super::{Idp, TempDir};
use reqwest::redirect::Policy;
use server::AppState;
use server::config::ServeArgs;
use sqlx::PgPool;
use std::time::Duration;

/// A running portal with its own provider.
pub struct Portal {
    pub url: String,
    pub idp: Idp,
    pub db: PgPool,
    pub state: AppState,
    pub task: tokio::task::JoinHandle<()>,
    pub _keys: TempDir,
}

impl Drop for Portal {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Portal {
    /// Serves the real router on `localhost:<free port>` against `db`.
    pub async fn start(db: PgPool) -> Self {
        Self::start_with(db, TempDir::new("keys"), &[]).await
    }

    /// Like [`Portal::start`], with the log key in `keys/log.key` and extra `serve` flags.
    pub async fn start_with(db: PgPool, keys: TempDir, extra: &[String]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // "localhost" for the portal, 127.0.0.1 for the provider: different sites, as in production.
        let url = format!("http://localhost:{port}");
        let idp = Idp::start(&url);
        let mut argv = vec![
            "serve".to_owned(),
            "--profile=dev".to_owned(),
            format!("--listen=127.0.0.1:{port}"),
            format!("--public-url={url}"),
            format!("--oidc-issuer={}", idp.issuer),
            format!("--ledger-key-file={}", keys.0.join("log.key").display()),
            format!("--pseudonym-key-file={}", keys.0.join("pseudonym.key").display()),
        ];
        argv.extend(extra.iter().cloned());
        let args = ServeArgs::try_parse_from(argv).unwrap();
        let config = args.resolve().unwrap();
        let oidc = server::http::auth::Oidc::discover(&config).await.expect("discovery against the test provider");
        let store = tower_sessions_sqlx_store::PostgresStore::new(db.clone());
        store.migrate().await.unwrap();
        let leptos_options = leptos::config::LeptosOptions::builder()
            .output_name("onecity")
            .site_root("target/site")
            .site_pkg_dir("pkg")
            .site_addr(config.listen)
            .build();
        let state = AppState::new(db.clone(), oidc, config, leptos_options).unwrap();
        let router = server::http::app(state.clone(), store);
        let task = tokio::spawn(async move {
            axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await.unwrap();
        });
        Self { url, idp, db, state, task, _keys: keys }
    }
}

/// A browser-like client: a cookie jar, redirects followed by hand so tests can look at
/// each hop.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub fn location(resp: &reqwest::Response) -> String {
    assert!(resp.status().is_redirection(), "expected a redirect, got {} from {}", resp.status(), resp.url());
    let loc = resp.headers()["location"].to_str().unwrap();
    resp.url().join(loc).unwrap().to_string()
}

/// Follows redirects until a non-redirect response or until `stop(url)` says stop before
/// requesting it; returns the last response, or the URL `stop` matched.
pub async fn follow(
    client: &reqwest::Client,
    mut url: String,
    stop: impl Fn(&str) -> bool,
) -> Result<reqwest::Response, String> {
    for _ in 0..20 {
        if stop(&url) {
            return Err(url);
        }
        let resp = client.get(&url).send().await.unwrap();
        if !resp.status().is_redirection() {
            return Ok(resp);
        }
        url = location(&resp);
    }
    panic!("redirect loop");
}

/// The provider's login form for a fresh sign-in: returns (form action URL, HTML).
pub async fn open_login_form(client: &reqwest::Client, portal: &Portal) -> (String, String) {
    let resp = follow(client, format!("{}/auth/login", portal.url), |_| false).await.unwrap();
    assert_eq!(resp.status(), 200, "login form at {}", resp.url());
    let page_url = resp.url().clone();
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"login-username\""), "not the login form: {html}");
    let action = html.split("action=\"").nth(1).and_then(|s| s.split('"').next()).expect("form action").to_owned();
    (page_url.join(&action.replace("&amp;", "&")).unwrap().to_string(), html)
}

/// Submits the login form; returns the response to the POST.
pub async fn submit_login(client: &reqwest::Client, action: &str, user: &str, password: &str) -> reqwest::Response {
    client.post(action).form(&[("username", user), ("password", password)]).send().await.unwrap()
}

/// Signs in through the provider up to (not including) the portal callback; returns its URL.
pub async fn sign_in_until_callback(client: &reqwest::Client, portal: &Portal, user: &str) -> String {
    let (action, _) = open_login_form(client, portal).await;
    let resp = submit_login(client, &action, user, "password").await;
    let callback_prefix = format!("{}/auth/callback", portal.url);
    follow(client, location(&resp), |u| u.starts_with(&callback_prefix)).await.expect_err("reached the callback")
}

/// Signs in completely (through the portal's callback); the client then holds a session.
pub async fn sign_in(client: &reqwest::Client, portal: &Portal, user: &str) {
    let callback = sign_in_until_callback(client, portal, user).await;
    let resp = follow(client, callback, |_| false).await.unwrap();
    assert!(resp.status().is_success(), "sign-in of {user} ended at {} with {}", resp.url(), resp.status());
    assert!(me(client, portal).await.is_object(), "{user} is signed in");
}

/// The signed-in user as the portal's `get_me` server function reports it.
pub async fn me(client: &reqwest::Client, portal: &Portal) -> serde_json::Value {
    let resp = client.post(format!("{}/api/me", portal.url)).form(&[("", "")]).send().await.unwrap();
    assert_eq!(resp.status(), 200, "get_me failed");
    resp.json().await.unwrap()
}

pub fn session_cookie(client_jar_header: Option<&reqwest::header::HeaderValue>) -> Option<String> {
    client_jar_header?
        .to_str()
        .ok()?
        .split(';')
        .find_map(|c| c.trim().strip_prefix(&format!("{}=", server::http::session::PLAIN_COOKIE)).map(str::to_owned))
}
