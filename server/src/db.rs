//! The database: the embedded migrations and one connect-and-migrate for `serve`, `migrate`
//! and `seed`.

use sqlx::PgPool;

use crate::config::Config;

/// The migrations at the workspace root, embedded in the binary and run at startup.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Connects to PostgreSQL and brings the schema up to date (migrations hold an advisory
/// lock, so several portal processes starting together are safe).
///
/// # Errors
/// When the database cannot be reached or a migration fails; the server must not start then.
pub async fn connect_and_migrate(config: &Config) -> anyhow::Result<PgPool> {
    use anyhow::Context;
    use secrecy::ExposeSecret;
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(std::time::Duration::from_secs(10))
        // sqlx pings every connection it hands out by default: a round trip per acquire, which
        // was a tenth of the My City page's time under load (docs/scale.md). A connection
        // that came back to the pool moments ago is almost surely alive; only one idle for a
        // while (a restarted server, a dropped socket) is pinged before use.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > std::time::Duration::from_secs(5) {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect(config.database_url.expose_secret())
        .await
        .context("cannot connect to PostgreSQL (check --database-url / DATABASE_URL)")?;
    MIGRATOR.run(&db).await.context("database migration failed")?;
    Ok(db)
}
