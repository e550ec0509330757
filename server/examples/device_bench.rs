//! Device ingestion benchmark (run by `scripts/bench-devices.sh [DEVICES] [PER_REQUEST]
//! [WORKERS]`, which seeds residents into a fresh database). In one process, against the same
//! database, with the same rows, batch sizes and concurrency:
//!
//! 1. Devices: DEVICES devices registered in bulk (keys, `device.registered` entries and rows
//!    written with `unnest`, untimed), each with its own Ed25519 key.
//! 2. Readings: for every device, one request of PER_REQUEST readings, signed ahead of time
//!    (the devices' work, not the server's).
//! 3. Signed ingestion: WORKERS tasks feed the requests through `domain::devices::ingest`, what
//!    the readings endpoint calls: the device's row read, its registration entry decoded,
//!    every signature checked, counters compared, then in one statement the counter moved
//!    under the row's lock, the readings inserted as behavioral records (with the residents'
//!    data-version triggers) and queued for sealing: readings/s.
//! 4. Plain inserts: the same rows, in the same batches, by the same number of tasks, inserted
//!    into `behavioral_record` with nothing checked: readings/s, and the ratio of (3) to (4).

use std::sync::Arc;
use std::time::Instant;

use chain::device::{Reading, SignedReading};
use chain::leaf::{DeviceId, Event, KEY_ED25519, Passport, Pseudonym};
use sqlx::PgPool;
use uuid::Uuid;

struct Request {
    device: Uuid,
    resident: Uuid,
    readings: Vec<SignedReading>,
}

fn seed_of(i: u64) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&i.to_be_bytes());
    s[8] = 0xd1;
    s
}

/// Registers `n` water meters round-robin over the residents, in chunks; returns (device,
/// resident) pairs.
async fn register(db: &PgPool, n: u64) -> anyhow::Result<Vec<(Uuid, Uuid)>> {
    let residents: Vec<Uuid> =
        sqlx::query_scalar("select resident_id from resident order by resident_id").fetch_all(db).await?;
    anyhow::ensure!(!residents.is_empty(), "seed residents first");
    let mut out = Vec::new();
    let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp())?;
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let (mut ids, mut owners, mut keys, mut bodies, mut serials) = (vec![], vec![], vec![], vec![], vec![]);
        for &i in chunk {
            let id = Uuid::from_u64_pair(0xbe9c_0000_0000_0000 | i, i);
            let owner = residents[usize::try_from(i)? % residents.len()];
            let key = chain::device::public_key(&seed_of(i));
            let serial = format!("BENCH-{i:08}");
            let event = Event::DeviceRegisteredV2(Passport {
                device_id: DeviceId(*id.as_bytes()),
                owner: owner_of(owner),
                kind: "meter.water".into(),
                brand: "Bench".into(),
                model: "B-1".into(),
                serial_commitment: chain::device::serial_commitment(&DeviceId(*id.as_bytes()), &serial),
                key_type: KEY_ED25519,
                public_key: key.to_vec(),
                registered_at: now,
            });
            ids.push(id);
            owners.push(owner);
            keys.push(key.to_vec());
            bodies.push(event.encode()?);
            serials.push(serial);
            out.push((id, owner));
        }
        let mut tx = db.begin().await?;
        let entries: Vec<i64> = sqlx::query_scalar(
            "insert into ledger_entry (kind, body) select 'device.registered', b from unnest($1::bytea[]) with ordinality as x(b, o)
             order by o returning ledger_entry_id",
        )
        .bind(&bodies)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "insert into device (device_id, resident_id, label, kind, brand, model, serial, key_type, public_key,
                                 registered_by, registered_at, registered_entry_id)
             select d, r, 'Bench meter', 'meter.water', 'Bench', 'B-1', s, 1, k, 'resident', now(), e
             from unnest($1::uuid[], $2::uuid[], $3::text[], $4::bytea[], $5::bigint[]) as x(d, r, s, k, e)",
        )
        .bind(&ids)
        .bind(&owners)
        .bind(&serials)
        .bind(&keys)
        .bind(&entries)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(out)
}

/// A stand-in owner pseudonym (the resident id twice): the benchmark measures ingestion,
/// which never looks at the owner.
fn owner_of(resident: Uuid) -> Pseudonym {
    let mut o = [0u8; 32];
    o[..16].copy_from_slice(resident.as_bytes());
    o[16..].copy_from_slice(resident.as_bytes());
    Pseudonym(o)
}

/// Signs every device's request on two threads (the devices' own work).
fn sign_all(devices: &[(Uuid, Uuid)], per: u64) -> Vec<Request> {
    let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0) - 60;
    let half = devices.len() / 2;
    let (a, b) = devices.split_at(half);
    let work = |part: &[(Uuid, Uuid)], offset: usize| -> Vec<Request> {
        part.iter()
            .enumerate()
            .map(|(j, &(device, resident))| {
                let i = (offset + j) as u64;
                let readings = (1..=per)
                    .map(|c| {
                        Reading {
                            device_id: DeviceId(*device.as_bytes()),
                            counter: c,
                            measured_at: now + c,
                            metric: "water.litres".into(),
                            value: i64::try_from(c * 7).unwrap_or(0),
                        }
                        .sign(&seed_of(i))
                        .expect("a valid metric")
                    })
                    .collect();
                Request { device, resident, readings }
            })
            .collect()
    };
    std::thread::scope(|s| {
        let first = s.spawn(|| work(a, 0));
        let mut rest = work(b, half);
        let mut all = first.join().expect("signing thread");
        all.append(&mut rest);
        all
    })
}

async fn run_workers<F, Fut>(requests: Arc<Vec<Request>>, workers: usize, f: F) -> anyhow::Result<f64>
where
    F: Fn(Arc<Vec<Request>>, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (requests, f) = (requests.clone(), f.clone());
            tokio::spawn(async move {
                let mut i = w;
                while i < requests.len() {
                    f(requests.clone(), i).await?;
                    i += workers;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok(started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arg = |n: usize, d: u64| std::env::args().nth(n).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (n, per, workers) = (arg(1, 100_000), arg(2, 5), usize::try_from(arg(3, 8))?);
    let url = std::env::var("DATABASE_URL")?;
    let db = sqlx::postgres::PgPoolOptions::new().max_connections(u32::try_from(workers)? + 2).connect(&url).await?;
    server::MIGRATOR.run(&db).await?;

    let t = Instant::now();
    let devices = register(&db, n).await?;
    println!("registered {n} devices in {:.1} s (bulk, untimed for the ratio)", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let requests = Arc::new(sign_all(&devices, per));
    let total = requests.len() as f64 * per as f64;
    println!("signed {total} readings ({per} per request) in {:.1} s on two threads", t.elapsed().as_secs_f64());
    sqlx::query("analyze device").execute(&db).await?;

    let signed = {
        let db = db.clone();
        run_workers(requests.clone(), workers, move |r, i| {
            let db = db.clone();
            async move {
                let req = &r[i];
                server::domain::devices::ingest(&db, None, req.device, &req.readings).await?;
                Ok(())
            }
        })
        .await?
    };
    let stored: i64 =
        sqlx::query_scalar("select count(*) from behavioral_record where data ? 'signature'").fetch_one(&db).await?;
    anyhow::ensure!(stored as f64 == total, "stored {stored} of {total} readings");
    // Sealing is part of ingestion: every reading queued for its batch.
    let queued: i64 = sqlx::query_scalar("select count(*) from reading_seal_queue").fetch_one(&db).await?;
    anyhow::ensure!(queued as f64 == total, "queued {queued} of {total} readings for sealing");
    println!(
        "signed ingestion: {total} readings in {signed:.1} s = {:.0} readings/s ({workers} workers)",
        total / signed
    );

    // The same rows, plainly.
    let plain = {
        let db = db.clone();
        run_workers(requests.clone(), workers, move |r, i| {
            let db = db.clone();
            async move {
                let req = &r[i];
                let times: Vec<time::OffsetDateTime> = req
                    .readings
                    .iter()
                    .map(|s| time::OffsetDateTime::from_unix_timestamp(i64::try_from(s.reading.measured_at).unwrap_or(0)))
                    .collect::<Result<_, _>>()?;
                let data: Vec<serde_json::Value> = req
                    .readings
                    .iter()
                    .map(|s| {
                        serde_json::json!({"device": req.device, "kind": "meter.water", "metric": s.reading.metric,
                            "value": s.reading.value, "counter": s.reading.counter, "signature": s.signature, "plain": true})
                    })
                    .collect();
                sqlx::query(
                    "insert into behavioral_record (resident_id, scope_key, occurred_at, data)
                     select $1, 'utilities.readings', t, d from unnest($2::timestamptz[], $3::jsonb[]) as x(t, d)",
                )
                .bind(req.resident)
                .bind(&times)
                .bind(&data)
                .execute(&db)
                .await?;
                Ok(())
            }
        })
        .await?
    };
    println!(
        "plain inserts:    {total} readings in {plain:.1} s = {:.0} readings/s ({workers} workers)",
        total / plain
    );
    println!("ratio signed / plain: {:.2}x", plain / signed);
    Ok(())
}
