//! The consortium: four real witness servers, each with its own database, and the sequencer.

use sqlx::PgPool;
use std::time::Duration;

/// Key names of the test consortium.
pub const WITNESS_NAMES: [&str; 4] =
    ["witness.a.example", "witness.b.example", "witness.c.example", "witness.d.example"];

/// A witness server with its own database; stopped on drop.
pub struct Witness {
    pub addr: std::net::SocketAddr,
    pub db: PgPool,
    pub cosigner: chain::cosign::Ed25519Cosigner,
    pub log: chain::note::VerifierKey,
    pub task: Option<tokio::task::JoinHandle<()>>,
}

impl Witness {
    pub async fn serve(&mut self, listener: tokio::net::TcpListener) {
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
    pub admin: PgPool,
    pub names: Vec<String>,
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
