//! A whole city for gate tests: portal, witnesses, the demo's agencies and services, helpers.

use super::{Consortium, Portal, TempDir, acquire_sequencer};
use sqlx::PgPool;

/// A whole city for gate tests: the portal with four witnesses (quorum 3), the demo agencies,
/// services and districts, and a sequencer the test drives by hand (`settle`).
pub struct City {
    pub portal: Portal,
    pub db: PgPool,
    pub consortium: Option<Consortium>,
    pub seq: server::ledger::sequencer::Sequencer,
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

/// A trip planner of the transit authority: recurring, 50 reads a day, the trips required and
/// the district optional; `districts` and `history_days` as given.
pub fn planner(districts: Vec<String>, history_days: u32) -> server::domain::services::NewVersion {
    server::domain::services::NewVersion {
        name_en: "Trip planner".into(),
        name_zh: "出行规划".into(),
        description_en: "Suggests better routes.".into(),
        description_zh: "推荐更好的路线。".into(),
        category: "transport".into(),
        purpose: "Suggest better routes from your recent trips".into(),
        required_scopes: vec!["transit.trips".to_owned()],
        optional_scopes: vec!["residence.district".to_owned()],
        retention_days: 30,
        districts,
        access_mode: server::domain::services::AccessMode::Recurring { max_reads_per_day: 50 },
        history_days,
    }
}
