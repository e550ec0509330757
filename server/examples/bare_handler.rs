//! The baseline of `scripts/bench-mycity.sh`: a bare axum handler running one indexed query
//! (a resident's transit trips this month, served from the month's partition index) and
//! answering a small HTML page. No sessions, no gate, no rendering framework: what a request
//! costs at the least on the same machine and database.
//! Usage: `bare_handler LISTEN RESIDENT_ID`, with `DATABASE_URL` naming the seeded database.

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone)]
struct Bench {
    db: PgPool,
    resident: Uuid,
}

async fn page(State(b): State<Bench>) -> Result<Html<String>, StatusCode> {
    let now = OffsetDateTime::now_utc();
    let month = now.replace_day(1).map(|d| d.replace_time(time::Time::MIDNIGHT)).unwrap_or(now);
    let (trips, cents): (i64, i64) = sqlx::query_as(
        "select count(*), coalesce(sum((data ->> 'fare_cents')::bigint), 0)::bigint from behavioral_record
         where resident_id = $1 and scope_key = 'transit.trips' and occurred_at >= $2 and occurred_at < $3",
    )
    .bind(b.resident)
    .bind(month)
    .bind(now)
    .fetch_one(&b.db)
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><title>trips</title></head><body><p>{trips} trips, {cents} cents</p></body></html>"
    )))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen: std::net::SocketAddr = args.next().context("usage: bare_handler LISTEN RESIDENT_ID")?.parse()?;
    let resident: Uuid = args.next().context("usage: bare_handler LISTEN RESIDENT_ID")?.parse()?;
    // The portal's default pool size, so both sides have the same database capacity.
    let db = PgPoolOptions::new()
        .max_connections(20)
        .connect(&std::env::var("DATABASE_URL").context("DATABASE_URL names the seeded database")?)
        .await?;
    let app = Router::new().route("/", get(page)).with_state(Bench { db, resident });
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
