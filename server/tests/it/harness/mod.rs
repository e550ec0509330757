//! Test harness: the real identity provider (the project's `idp/server.mjs`) as a child
//! process, and the real portal router served on a loopback port against the per-test
//! database that `#[sqlx::test]` creates.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::redirect::Policy;
use server::AppState;
use server::config::ServeArgs;
use sqlx::PgPool;

/// The development OpenID provider, killed when dropped.
pub struct Idp {
    child: Child,
    pub issuer: String,
    _data: TempDir,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch directory removed when dropped.
pub struct TempDir(pub PathBuf);
impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("onecity-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

impl Idp {
    /// Starts the provider on a free port, registering `portal` as the client's origin.
    pub fn start(portal: &str) -> Self {
        let root = repo_root();
        assert!(
            root.join("idp/node_modules").is_dir(),
            "idp/node_modules is missing: run `./dev test` (or `npm ci` in idp/) first"
        );
        let data = TempDir::new("idp");
        let mut child = Command::new("node")
            .arg(root.join("idp/server.mjs"))
            .env("IDP_PORT", "0")
            .env("IDP_DATA_DIR", &data.0)
            .env("IDP_REDIRECT_URIS", format!("{portal}/auth/callback"))
            .env("IDP_POST_LOGOUT_REDIRECT_URIS", format!("{portal}/"))
            .env("IDP_API_AUDIENCE", format!("{portal}/api/v1"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node must be installed to run the identity provider");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let issuer = loop {
            let line = lines.next().expect("the provider exited before it was ready").unwrap();
            if let Some(url) = line.strip_prefix("onecity-idp listening on ") {
                break url.trim().to_owned();
            }
        };
        // Keep draining its stdout so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, issuer, _data: data }
    }
}

/// A running portal with its own provider.
pub struct Portal {
    pub url: String,
    pub idp: Idp,
    pub db: PgPool,
    pub state: AppState,
    task: tokio::task::JoinHandle<()>,
    _keys: TempDir,
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

/// A local EVM chain node (anvil from the project's `tools/` npm packages), killed on drop.
pub struct Anvil {
    child: Child,
    pub url: String,
    pub port: u16,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Anvil {
    fn binary() -> PathBuf {
        let bin = repo_root().join("tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
        assert!(bin.is_file(), "anvil is missing: run `./dev test` (or `npm ci` in tools/) first");
        bin
    }

    /// Starts anvil on a free loopback port and waits until it answers.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Self::start_on(port).await
    }

    /// Starts anvil on `port` (e.g. again after a stop) and waits until it answers.
    pub async fn start_on(port: u16) -> Self {
        let child = Command::new(Self::binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("anvil starts");
        // Owned by `Self` at once, so it is killed on drop even if it never answers.
        let anvil = Self { child, url: format!("http://127.0.0.1:{port}"), port };
        let rpc = server::ledger::evm::EvmRpc::new(&anvil.url).unwrap();
        for _ in 0..100 {
            if rpc.chain_id().await.is_ok() {
                return anvil;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("anvil did not start on port {port}");
    }
}

/// Key names of the test consortium.
pub const WITNESS_NAMES: [&str; 4] =
    ["witness.a.example", "witness.b.example", "witness.c.example", "witness.d.example"];

/// A witness server with its own database; stopped on drop.
pub struct Witness {
    pub addr: std::net::SocketAddr,
    pub db: PgPool,
    pub cosigner: chain::cosign::Ed25519Cosigner,
    log: chain::note::VerifierKey,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Witness {
    async fn serve(&mut self, listener: tokio::net::TcpListener) {
        let state =
            server::witness::WitnessState::new(self.db.clone(), self.cosigner.clone(), vec![self.log.clone()]).unwrap();
        let router = server::witness::router(state);
        self.task = Some(tokio::spawn(async move { axum::serve(listener, router).await.unwrap() }));
    }

    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Serves again on the same address and database.
    pub async fn restart(&mut self) {
        for _ in 0..50 {
            if let Ok(listener) = tokio::net::TcpListener::bind(self.addr).await {
                return self.serve(listener).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cannot rebind {}", self.addr);
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Four witness servers, each with its own database on the test server; the databases are
/// dropped with the consortium.
pub struct Consortium {
    pub witnesses: Vec<Witness>,
    admin: PgPool,
    names: Vec<String>,
}

impl Consortium {
    pub async fn start(opts: &sqlx::postgres::PgConnectOptions, log: chain::note::VerifierKey) -> Self {
        use chain::cosign::Ed25519Cosigner;
        use sqlx::postgres::PgPoolOptions;
        let admin = PgPoolOptions::new().max_connections(2).connect_with(opts.clone()).await.unwrap();
        // Database names are at most 63 bytes: a short random tag, not the test database's name.
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..12];
        let mut witnesses = Vec::new();
        let mut names = Vec::new();
        for (i, name) in WITNESS_NAMES.iter().enumerate() {
            let db_name = format!("onecity_witness_{tag}_{i}");
            sqlx::query(&format!("create database \"{db_name}\"")).execute(&admin).await.unwrap();
            let db =
                PgPoolOptions::new().max_connections(4).connect_with(opts.clone().database(&db_name)).await.unwrap();
            server::witness::init_schema(&db).await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut w = Witness {
                addr: listener.local_addr().unwrap(),
                db,
                cosigner: Ed25519Cosigner::from_seed(name, &[20 + i as u8; 32]).unwrap(),
                log: log.clone(),
                task: None,
            };
            w.serve(listener).await;
            witnesses.push(w);
            names.push(db_name);
        }
        Self { witnesses, admin, names }
    }

    pub fn endpoints(&self) -> Vec<server::ledger::WitnessEndpoint> {
        use chain::cosign::CosignatureSigner;
        self.witnesses
            .iter()
            .map(|w| server::ledger::WitnessEndpoint {
                url: format!("http://{}", w.addr),
                key: w.cosigner.verifier_key(),
            })
            .collect()
    }

    pub async fn shutdown(mut self) {
        for w in &mut self.witnesses {
            w.stop();
            w.db.close().await;
        }
        for name in &self.names {
            let _ = sqlx::query(&format!("drop database if exists \"{name}\" with (force)")).execute(&self.admin).await;
        }
    }
}

/// A `grant.issued` event with every field derived from `n` (distinct per `n`).
pub fn grant_issued(n: u8) -> chain::Event {
    chain::Event::GrantIssued {
        grant_id: chain::GrantId([n; 16]),
        resident: chain::Pseudonym([n; 32]),
        service_version_hash: chain::Hash([9; 32]),
        scopes: vec!["transit.trips".into()],
        purpose: "fare capping".into(),
        valid_from: 1_700_000_000,
        valid_until: 4_000_000_000,
    }
}

/// Takes the sequencer lease once the previous holder's connection is gone (PostgreSQL
/// releases its advisory lock when it notices the closed connection).
pub async fn acquire_sequencer(
    db: &PgPool,
    settings: std::sync::Arc<server::ledger::LedgerSettings>,
) -> server::ledger::sequencer::Sequencer {
    for _ in 0..50 {
        if let Some(s) = server::ledger::sequencer::Sequencer::acquire(db, settings.clone()).await.unwrap() {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the sequencer lease was never released");
}

/// A whole city for gate tests: the portal with four witnesses (quorum 3), the demo agencies,
/// services and districts, and a sequencer the test drives by hand (`settle`).
pub struct City {
    pub portal: Portal,
    pub db: PgPool,
    consortium: Option<Consortium>,
    seq: server::ledger::sequencer::Sequencer,
}

impl City {
    pub async fn start(opts: &sqlx::postgres::PgConnectOptions, extra: &[String]) -> Self {
        use sqlx::postgres::PgPoolOptions;
        let db = PgPoolOptions::new().max_connections(40).connect_with(opts.clone()).await.unwrap();
        let keys = TempDir::new("keys");
        let seed = server::keyfile::load_or_create_seed(&keys.0.join("log.key")).unwrap();
        let log = chain::note::NoteSigner::from_seed("ledger.onecity.example", &seed).unwrap();
        let consortium = Consortium::start(opts, log.verifier_key()).await;
        let mut flags: Vec<String> =
            consortium.endpoints().iter().map(|w| format!("--witness={},{}", w.url, w.key)).collect();
        flags.extend(extra.iter().cloned());
        let portal = Portal::start_with(db.clone(), keys, &flags).await;
        server::seed::seed_districts(&db).await.unwrap();
        server::seed::seed_services(&db).await.unwrap();
        let seq = acquire_sequencer(&db, portal.state.ledger.clone()).await;
        let mut city = Self { portal, db, consortium: Some(consortium), seq };
        city.settle().await;
        city
    }

    /// Integrates everything queued and has the witnesses cosign it.
    pub async fn settle(&mut self) {
        self.seq.integrate_batch().await.unwrap();
        server::ledger::witness_client::cosign_latest(&self.db, &self.portal.state.ledger).await;
    }

    /// A service of the demo seed by slug.
    pub async fn service(&self, slug: &str) -> uuid::Uuid {
        sqlx::query_scalar("select service_id from service where slug = $1")
            .bind(slug)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// The resident record of the provider's account `subject` (made at its first sign-in).
    pub async fn resident_of(&self, subject: &str) -> uuid::Uuid {
        sqlx::query_scalar("select resident_id from resident join account using (account_id) where subject = $1")
            .bind(subject)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// A resident in district `central` born in 1950, with ten transit trips over the last ten
    /// days and one property title.
    pub async fn resident(&self, subject: &str) -> uuid::Uuid {
        let mut tx = self.db.begin().await.unwrap();
        let account: uuid::Uuid = sqlx::query_scalar(
            "insert into account (issuer, subject, display_name) values ('test', $1, $1) returning account_id",
        )
        .bind(subject)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        let district: String = sqlx::query_scalar("select district_id from district order by district_id limit 1")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let resident: uuid::Uuid =
            sqlx::query_scalar("insert into resident (account_id, district_id) values ($1, $2) returning resident_id")
                .bind(account)
                .bind(district)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        sqlx::query("insert into civil_record (resident_id, birth_date, annual_income_cents) values ($1, '1950-03-01', 2500000)")
            .bind(resident)
            .execute(&mut *tx)
            .await
            .unwrap();
        let now = time::OffsetDateTime::now_utc();
        let trips: Vec<_> = (1..=10)
            .map(|d| {
                (
                    now - time::Duration::days(d),
                    serde_json::json!({"from": "Harbour", "to": "Museum", "fare_cents": 300 + d}),
                )
            })
            .collect();
        server::domain::records::add_behavioral(&mut tx, resident, "transit.trips", &trips).await.unwrap();
        server::domain::records::add_confirmation(
            &mut tx,
            resident,
            "property.titles",
            &serde_json::json!({"address": format!("{subject} Lane 1"), "share": 1}),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        resident
    }

    /// `n` transit trips taken just now, after any grant issued so far: the gate releases only
    /// what a grant's window covers, and [`City::resident`]'s ten trips are all older.
    pub async fn trips_now(&self, resident: uuid::Uuid, n: i64) {
        let now = time::OffsetDateTime::now_utc();
        let trips: Vec<_> = (0..n)
            .map(|i| (now, serde_json::json!({"from": "Museum", "to": "Harbour", "fare_cents": 310 + i})))
            .collect();
        let mut conn = self.db.acquire().await.unwrap();
        server::domain::records::add_behavioral(&mut conn, resident, "transit.trips", &trips).await.unwrap();
    }

    /// Grants `scopes` of `service` for `days` days, as the resident would.
    pub async fn grant(
        &self,
        resident: uuid::Uuid,
        service: uuid::Uuid,
        scopes: &[&str],
        days: i64,
    ) -> server::domain::grants::Grant {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let until = time::OffsetDateTime::now_utc() + time::Duration::days(days);
        server::domain::grants::issue(&self.db, &self.portal.state.pseudonyms, resident, service, None, &scopes, until)
            .await
            .unwrap()
    }

    /// Calls a server function (`/api/<name>`) with a form body as a browser would; the status
    /// and the JSON answer (or the text, when it is not JSON).
    pub async fn server_fn(
        &self,
        client: &reqwest::Client,
        name: &str,
        form: &[(&str, String)],
    ) -> (u16, serde_json::Value) {
        let resp = client.post(format!("{}/api/{name}", self.portal.url)).form(form).send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    /// The resident's pseudonym at a service, as the agency sees it.
    pub fn pseudonym(&self, resident: uuid::Uuid, service: uuid::Uuid) -> String {
        self.portal.state.pseudonyms.pseudonym(resident, service).to_hex()
    }

    /// A client-credentials access token from the provider.
    pub async fn token(&self, client: &str, secret: &str, scope: &str) -> String {
        let http = reqwest::Client::new();
        let discovery: serde_json::Value = http
            .get(format!("{}/.well-known/openid-configuration", self.portal.idp.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let resp = http
            .post(discovery["token_endpoint"].as_str().unwrap())
            .basic_auth(client, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "token for {client}");
        let body: serde_json::Value = resp.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn transit_token(&self) -> String {
        self.token("agency-transit", "agency-transit-secret", "agency.read agency.publish").await
    }

    pub async fn health_token(&self) -> String {
        self.token("agency-health", "agency-health-secret", "agency.read agency.publish").await
    }

    /// POST a JSON body to the agency API with a bearer token; status and JSON body.
    pub async fn api_post(&self, token: &str, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}{path}", self.portal.url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn api_get(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let resp =
            reqwest::Client::new().get(format!("{}{path}", self.portal.url)).bearer_auth(token).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn shutdown(mut self) {
        if let Some(c) = self.consortium.take() {
            c.shutdown().await;
        }
    }
}

/// A connection that writes as someone with database access would behind the server's back:
/// with triggers off (`session_replication_role = replica`, which needs a superuser, as the
/// tests' PostgreSQL user is). Detached from the pool, so the setting never leaks into the
/// server's own connections.
pub async fn behind_the_servers_back(db: &PgPool) -> sqlx::PgConnection {
    let mut conn = db.acquire().await.unwrap().detach();
    sqlx::query("set session_replication_role = replica").execute(&mut conn).await.unwrap();
    conn
}
