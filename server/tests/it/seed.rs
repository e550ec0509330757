//! `onecity seed` against a real PostgreSQL: the synthetic city is the same for the same seed
//! however it is chunked or interrupted, a resumed load ends with exactly the rows of an
//! uninterrupted one, the identity provider's test residents keep the city the other tests
//! expect, seeded grants pass the gate like any grant, and bad flags are refused clearly.
//! Sizes are small: each test loads a few dozen residents.

use crate::harness::{City, browser, sign_in};
use server::domain::pseudonym::PseudonymKey;
use server::seed::city::{CityArgs, LoadOptions, Loaded, load_city};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use time::macros::date;

fn args(residents: u32, records: u64, chunk: u32) -> CityArgs {
    CityArgs {
        seed: Some(42),
        residents: Some(residents),
        records: Some(records),
        until: Some(date!(2026 - 11 - 01)),
        chunk_residents: Some(chunk),
        max_chunks: None,
    }
}

fn key() -> PseudonymKey {
    PseudonymKey::new([7; 32])
}

/// The catalogue and map the city is generated against.
async fn prepare(db: &PgPool) {
    server::seed::seed_districts(db).await.unwrap();
    server::seed::seed_services(db).await.unwrap();
    server::seed::seed_catalogue(db).await.unwrap();
}

async fn load(db: &PgPool, args: &CityArgs, opts: LoadOptions) -> anyhow::Result<Loaded> {
    load_city(db, &key(), server::seed::map_districts().unwrap(), args, opts).await
}

/// A second, migrated database beside the test's own; dropped by [`drop_twin`].
async fn twin(opts: &PgConnectOptions, db: &PgPool) -> (PgPool, String) {
    // Test databases' names are long: a suffix would be cut at PostgreSQL's 63 bytes.
    let test_db = opts.get_database().unwrap();
    let name = format!("twin{}", &test_db[test_db.len().saturating_sub(40)..]);
    sqlx::query(&format!(r#"create database "{name}""#)).execute(db).await.unwrap();
    let pool = PgPoolOptions::new().max_connections(4).connect_with(opts.clone().database(&name)).await.unwrap();
    server::MIGRATOR.run(&pool).await.unwrap();
    (pool, name)
}

async fn drop_twin(db: &PgPool, twin: PgPool, name: &str) {
    twin.close().await;
    sqlx::query(&format!(r#"drop database "{name}" with (force)"#)).execute(db).await.unwrap();
}

/// MD5 of every synthetic row, table by table, with what depends on the database rather than
/// on the seed (the catalogue's service ids, hence pseudonyms and ledger bodies) left out:
/// grants are named by their service's slug.
async fn fingerprint(db: &PgPool) -> Vec<String> {
    let queries = [
        "select md5(string_agg(concat_ws('|', a.account_id, a.subject, a.display_name, a.locale, r.resident_id,
                r.district_id, c.birth_date, c.annual_income_cents), ',' order by a.subject))
         from account a join resident r using (account_id) join civil_record c using (resident_id)
         where a.issuer = 'urn:onecity:synthetic'",
        "select md5(string_agg(concat_ws('|', confirmation_record_id, resident_id, scope_key, data::text,
                encode(content_hash, 'hex'), recorded_at), ',' order by confirmation_record_id))
         from confirmation_record",
        "select md5(string_agg(concat_ws('|', resident_id, scope_key, occurred_at, data::text), ','
                order by resident_id, scope_key, occurred_at, data::text))
         from behavioral_record",
        "select md5(string_agg(concat_ws('|', g.data_grant_id, g.resident_id, s.slug, g.version, g.scopes,
                g.valid_from, g.valid_until, r.revoked_at), ',' order by g.data_grant_id))
         from data_grant g join service s using (service_id) left join grant_revocation r using (data_grant_id)",
    ];
    let mut out = Vec::new();
    for q in queries {
        out.push(sqlx::query_scalar::<_, Option<String>>(q).fetch_one(db).await.unwrap().unwrap_or_default());
    }
    out
}

async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

/// The same seed, sizes and `--until` give the same rows whether the city loads in six
/// chunks or one; the confirmation records' hashes are what `records::add_confirmation`
/// would have stored for the same data.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_same_seed_gives_the_same_city_however_it_is_chunked(db: PgPool) {
    let opts = db.connect_options().as_ref().clone();
    prepare(&db).await;
    let loaded = load(&db, &args(45, 4_000, 8), LoadOptions::default()).await.unwrap();
    assert_eq!((loaded.chunks, loaded.residents, loaded.records), (6, 45, 4_000));
    assert!(loaded.complete && loaded.confirmations > 45 && loaded.grants > 0, "{loaded:?}");

    let (other, name) = twin(&opts, &db).await;
    prepare(&other).await;
    let one_go = load(&other, &args(45, 4_000, 45), LoadOptions::default()).await.unwrap();
    assert_eq!((one_go.chunks, one_go.rows), (1, loaded.rows));
    let (a, b) = (fingerprint(&db).await, fingerprint(&other).await);
    drop_twin(&db, other, &name).await;
    assert_eq!(a, b);
    assert!(a.iter().all(|h| h.len() == 32), "every table has rows: {a:?}");

    // The stored hash is the one the records module computes from the stored data.
    let rows: Vec<(serde_json::Value, Vec<u8>)> =
        sqlx::query_as("select data, content_hash from confirmation_record").fetch_all(&db).await.unwrap();
    for (data, hash) in rows {
        assert_eq!(hash, server::domain::records::content_hash(&data), "{data}");
    }
}

/// A load stopped after two chunks, one that fails just before a commit, and one cut off
/// at an arbitrary point (its future dropped, as when the process is stopped) all leave
/// whole chunks only; reruns finish the city with exactly the rows of an uninterrupted load.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_interrupted_load_resumes_to_exactly_the_uninterrupted_city(db: PgPool) {
    let opts = db.connect_options().as_ref().clone();
    prepare(&db).await;
    let city = args(60, 6_000, 10);
    let first = load(&db, &CityArgs { max_chunks: Some(2), ..city.clone() }, LoadOptions::default()).await.unwrap();
    assert_eq!((first.chunks, first.total_chunks, first.residents, first.complete), (2, 6, 20, false));

    let failing = LoadOptions { fail_before_commit: Some(3), ..LoadOptions::default() };
    let err = load(&db, &city, failing).await.unwrap_err();
    assert!(format!("{err:#}").contains("chunk 3 failed on purpose"), "{err:#}");
    assert_eq!(count(&db, "select count(*) from seed_chunk").await, 3, "chunk 2 committed, chunk 3 rolled back");
    assert_eq!(count(&db, "select count(*) from resident").await, 30);
    let records = count(&db, "select sum(records)::bigint from seed_chunk").await;
    assert_eq!(count(&db, "select count(*) from behavioral_record").await, records);

    let _ = tokio::time::timeout(std::time::Duration::from_millis(25), load(&db, &city, LoadOptions::default())).await;

    // The cut-off run's connection (and its advisory lock) goes away asynchronously.
    let mut finished = None;
    for _ in 0..50 {
        match load(&db, &city, LoadOptions::default()).await {
            Ok(l) => {
                finished = Some(l);
                break;
            }
            Err(e) if format!("{e:#}").contains("another `onecity seed`") => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e:#}"),
        }
    }
    let finished = finished.expect("the lock of the cut-off run was released");
    assert!(finished.complete);
    let again = load(&db, &city, LoadOptions::default()).await.unwrap();
    assert_eq!((again.chunks, again.rows, again.complete), (0, 0, true), "a complete city is left alone");

    assert_eq!(count(&db, "select count(*) from seed_chunk").await, 6);
    assert_eq!(count(&db, "select count(*) from resident").await, 60);
    assert_eq!(count(&db, "select count(*) from behavioral_record").await, 6_000);
    // Every grant entry belongs to a committed grant or revocation, and the other way round.
    assert_eq!(
        count(&db, "select count(*) from ledger_entry where kind like 'grant.%'").await,
        count(&db, "select (select count(*) from data_grant) + (select count(*) from grant_revocation)").await
    );
    assert_eq!(
        count(
            &db,
            "select count(*) from ledger_entry e where kind = 'grant.issued'
             and not exists (select 1 from data_grant g where g.issued_entry_id = e.ledger_entry_id)"
        )
        .await,
        0
    );

    let (other, name) = twin(&opts, &db).await;
    prepare(&other).await;
    load(&other, &city, LoadOptions::default()).await.unwrap();
    let (a, b) = (fingerprint(&db).await, fingerprint(&other).await);
    drop_twin(&db, other, &name).await;
    assert_eq!(a, b, "the resumed city is the uninterrupted one");
}

/// With a synthetic city beside them, `resident1` and `resident2` are still who the other
/// tests and the browser tests expect; fare capping still holds `resident1`'s grant only; a
/// seeded grant passes the gate once sequenced and cosigned, and a seeded revocation denies.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_test_residents_keep_their_city_and_seeded_grants_pass_the_gate(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    let key = city.portal.state.pseudonyms.clone();
    let issuer = city.portal.idp.issuer.clone();
    server::seed::seed_catalogue(&city.db).await.unwrap();
    server::seed::seed_places(&city.db).await.unwrap();
    server::seed::seed_residents(&city.db, &issuer, &key).await.unwrap();
    let loaded =
        load_city(&city.db, &key, server::seed::map_districts().unwrap(), &args(40, 2_000, 16), LoadOptions::default())
            .await
            .unwrap();
    assert!(loaded.complete && loaded.grants > 0);
    city.settle().await;

    let people: Vec<(String, String, String, time::Date)> = sqlx::query_as(
        "select a.subject, a.display_name, r.district_id, c.birth_date
         from account a join resident r using (account_id) join civil_record c using (resident_id)
         where a.issuer = $1 order by a.subject",
    )
    .bind(&issuer)
    .fetch_all(&city.db)
    .await
    .unwrap();
    assert_eq!(
        people,
        [
            ("resident1".into(), "Li Wei".into(), "harbor".into(), date!(1955 - 04 - 12)),
            ("resident2".into(), "Maria Santos".into(), "riverside".into(), date!(1988 - 09 - 30)),
        ]
    );
    let li = browser();
    sign_in(&li, &city.portal, "resident1").await;
    let (_, grants) = city.server_fn(&li, "me/grants", &[]).await;
    let mut names: Vec<&str> =
        grants.as_array().unwrap().iter().map(|g| g["service_name_en"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Fare capping", "Senior health check"], "{grants}");
    assert!(grants.as_array().unwrap().iter().all(|g| g["state"] == "active"), "{grants}");
    let maria = browser();
    sign_in(&maria, &city.portal, "resident2").await;
    assert_eq!(city.server_fn(&maria, "me/grants", &[]).await.1, serde_json::json!([]));
    let fare = city.service("fare-capping").await;
    assert_eq!(
        count(&city.db, &format!("select count(*) from data_grant where service_id = '{fare}'")).await,
        1,
        "the gate's browser test expects resident1's fare-capping grant alone"
    );

    let grant = |revoked: bool| {
        let db = city.db.clone();
        async move {
            sqlx::query_as::<_, (uuid::Uuid, Vec<u8>, Vec<String>, String)>(
                "select g.service_id, g.pseudonym, g.scopes, s.agency_id
                 from data_grant g join service s using (service_id)
                 join resident r using (resident_id) join account a using (account_id)
                 where a.issuer = 'urn:onecity:synthetic' and g.valid_until > now()
                   and exists (select 1 from grant_revocation v where v.data_grant_id = g.data_grant_id) = $1
                 order by g.data_grant_id limit 1",
            )
            .bind(revoked)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    let gate = city.portal.state.gate.clone();
    for revoked in [false, true] {
        let (service_id, pseudonym, scopes, agency_id) = grant(revoked).await;
        let reader = server::domain::gate::Reader { id: format!("{agency_id}/client/seed-test"), agency_id };
        let request = server::domain::gate::ReadRequest {
            service_id,
            pseudonym: chain::Pseudonym(pseudonym.try_into().unwrap()),
            scopes,
            range: server::domain::records::Range::default(),
        };
        let result = gate.read(&city.db, &reader, &request).await;
        if revoked {
            let err = result.expect_err("a revoked seeded grant is denied");
            assert!(matches!(
                err,
                server::domain::gate::GateError::Denied { reason: server::domain::gate::DenyReason::Revoked, .. }
            ));
        } else {
            result.expect("an active seeded grant passes the gate");
        }
    }
    city.shutdown().await;
}

fn seed_command(url: &str, extra: &[&str]) -> std::process::Output {
    let keys = crate::harness::TempDir::new("seed-flags");
    std::process::Command::new(env!("CARGO_BIN_EXE_onecity"))
        .arg("seed")
        .args(["--database-url", url, "--pseudonym-key-file"])
        .arg(keys.0.join("pseudonym.key"))
        .args(extra)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

/// Flags that cannot make a city are refused with a message naming the flag, before anything
/// is written; so are flags that differ from the city already in the database.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn bad_flags_are_refused_with_a_clear_message(db: PgPool) {
    let o = db.connect_options();
    let url =
        format!("postgres://{}@{}:{}/{}", o.get_username(), o.get_host(), o.get_port(), o.get_database().unwrap());
    let refused = |out: std::process::Output, code: i32, says: &str| {
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
    };
    refused(seed_command(&url, &["--residents=-3"]), 2, "--residents");
    refused(seed_command(&url, &["--residents", "60000000"]), 2, "60000000 is not in 0..=50000000");
    refused(seed_command(&url, &["--chunk-residents", "0"]), 2, "--chunk-residents");
    refused(seed_command(&url, &["--until", "2026-02-30"]), 2, "\"2026-02-30\" is not a date (YYYY-MM-DD)");
    refused(seed_command(&url, &["--residents", "0", "--records", "5"]), 1, "--records 5 needs residents");
    refused(
        seed_command(&url, &["--residents", "10", "--records", "2000000"]),
        1,
        "is 200000 each; at most 100000 per resident",
    );
    assert_eq!(count(&db, "select count(*) from district").await, 0, "nothing was written");

    prepare(&db).await;
    load(&db, &args(12, 600, 5), LoadOptions::default()).await.unwrap();
    refused(
        seed_command(&url, &["--residents", "13"]),
        1,
        "already holds the synthetic city `--seed 42 --residents 12 --records 600 --until 2026-11-01 \
         --chunk-residents 5`",
    );
    assert_eq!(count(&db, "select count(*) from resident").await, 12);
}
