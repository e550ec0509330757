//! What city is loaded: the plan stored at the first run, checked on every later run.

use super::{DEFAULT_CHUNK_RESIDENTS, DEFAULT_RECORDS, DEFAULT_RESIDENTS, DEFAULT_SEED};
use crate::seed::generate::{GENERATOR_VERSION, HISTORY_DAYS, MAX_RECORDS_PER_RESIDENT};
use anyhow::{Context as _, ensure};
use clap::Args;
use sqlx::{PgConnection, PgPool};
use time::{Date, Duration, OffsetDateTime};

pub(super) fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse(s, &time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
}

/// The synthetic city's flags. Each defaults to the city already in the database, or to the
/// demo size when there is none.
#[derive(Args, Clone, Debug, Default)]
pub struct CityArgs {
    /// Seed number: the same number (with the same sizes and --until) gives the same city
    /// [default: 1].
    #[arg(long = "seed", value_name = "N")]
    pub seed: Option<u64>,
    /// Synthetic residents, besides the identity provider's test accounts; 0 for none
    /// [default: 1000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=50_000_000))]
    pub residents: Option<u32>,
    /// Behavioral records (trips, receipts, meter readings, service visits) in total over all
    /// synthetic residents [default: 100 per resident].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=10_000_000_000))]
    pub records: Option<u64>,
    /// The generated year of activity ends at the start of this day, UTC (YYYY-MM-DD)
    /// [default: today].
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub until: Option<Date>,
    /// Residents per chunk: each chunk commits, and resumes, as a whole [default: 1000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub chunk_residents: Option<u32>,
    /// Load at most this many chunks, then stop (run again to continue).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_chunks: Option<u32>,
}

/// The synthetic city a database holds (or is about to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CityPlan {
    pub seed: u64,
    pub residents: u32,
    pub records: u64,
    pub until: Date,
    pub chunk_residents: u32,
}

impl std::fmt::Display for CityPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--seed {} --residents {} --records {} --until {} --chunk-residents {}",
            self.seed, self.residents, self.records, self.until, self.chunk_residents
        )
    }
}

impl CityPlan {
    /// The city the flags ask for, given the one already stored (if any).
    ///
    /// # Errors
    /// Sizes that do not fit together, or flags that differ from the stored city.
    pub fn resolve(args: &CityArgs, stored: Option<&CityPlan>, today: Date) -> anyhow::Result<Self> {
        let mut plan = Self {
            seed: args.seed.or(stored.map(|s| s.seed)).unwrap_or(DEFAULT_SEED),
            residents: args.residents.or(stored.map(|s| s.residents)).unwrap_or(DEFAULT_RESIDENTS),
            records: 0,
            until: args.until.or(stored.map(|s| s.until)).unwrap_or(today),
            chunk_residents: args
                .chunk_residents
                .or(stored.map(|s| s.chunk_residents))
                .unwrap_or(DEFAULT_CHUNK_RESIDENTS),
        };
        // Without --records, as many records per resident as in the demo city.
        plan.records = args
            .records
            .or(stored.map(|s| s.records))
            .unwrap_or_else(|| u64::from(plan.residents) * (DEFAULT_RECORDS / u64::from(DEFAULT_RESIDENTS)));
        if plan.residents == 0 {
            ensure!(plan.records == 0, "--records {} needs residents to belong to: pass --residents too", plan.records);
        } else {
            let per = plan.records / u64::from(plan.residents);
            ensure!(
                per <= MAX_RECORDS_PER_RESIDENT,
                "--records {} for {} residents is {per} each; at most {MAX_RECORDS_PER_RESIDENT} per resident",
                plan.records,
                plan.residents
            );
        }
        ensure!(
            (Date::from_calendar_date(2000, time::Month::January, 1)?..=today + Duration::days(366))
                .contains(&plan.until),
            "--until {} is out of range: use a day between 2000-01-01 and a year from now",
            plan.until
        );
        if let Some(s) = stored {
            ensure!(
                plan == *s,
                "this database already holds the synthetic city `{s}`, and a database holds one city: \
                 rerun without these flags to continue it, or seed an empty database"
            );
        }
        Ok(plan)
    }

    #[must_use]
    pub fn chunks(&self) -> u32 {
        self.residents.div_ceil(self.chunk_residents)
    }

    pub(super) fn chunk_range(&self, chunk: u32) -> (u32, u32) {
        let first = chunk * self.chunk_residents;
        (first, (first + self.chunk_residents).min(self.residents))
    }
}

/// What one run loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Chunks loaded by this run, and all chunks of the city.
    pub chunks: u32,
    pub total_chunks: u32,
    pub residents: u64,
    pub records: u64,
    pub confirmations: u64,
    pub grants: u64,
    /// Every row this run copied (all tables).
    pub rows: u64,
    /// Whether the whole city is now in the database.
    pub complete: bool,
}

/// Knobs for tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Fail chunk `k` after all its rows are copied, just before its commit (as a crash or a
    /// lost connection there would): the chunk must roll back whole.
    pub fail_before_commit: Option<u32>,
    /// Draw a progress bar (a terminal) or log a line every few seconds (otherwise).
    pub bar: bool,
}

pub(super) async fn stored_plan(conn: &mut PgConnection) -> anyhow::Result<Option<CityPlan>> {
    let row =
        sqlx::query!("select seed, residents, records, until_date, chunk_residents, generator_version from seed_city")
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|r| {
        ensure!(
            r.generator_version == GENERATOR_VERSION,
            "this database holds a synthetic city made by generator version {} (this onecity has version \
             {GENERATOR_VERSION}); seed an empty database",
            r.generator_version
        );
        Ok(CityPlan {
            seed: u64::try_from(r.seed)?,
            residents: u32::try_from(r.residents)?,
            records: u64::try_from(r.records)?,
            until: r.until_date,
            chunk_residents: u32::try_from(r.chunk_residents)?,
        })
    })
    .transpose()
}

/// Monthly partitions of `behavioral_record` for every month the city's records (and the
/// demo residents' recent ones) fall in, so nothing lands in the default partition.
pub(super) async fn ensure_partitions(conn: &mut PgConnection, plan: &CityPlan) -> anyhow::Result<()> {
    let today = OffsetDateTime::now_utc().date();
    let to = plan.until.max(today);
    let mut month = (plan.until.min(today) - Duration::days(HISTORY_DAYS + 1)).replace_day(1)?;
    while month <= to {
        sqlx::query!("select behavioral_record_partition($1)", month)
            .execute(&mut *conn)
            .await
            .with_context(|| format!("cannot add the partition of behavioral records for {month}"))?;
        month = (month + Duration::days(32)).replace_day(1)?;
    }
    Ok(())
}

pub(super) async fn resolve_on(
    conn: &mut PgConnection,
    args: &CityArgs,
) -> anyhow::Result<(Option<CityPlan>, CityPlan)> {
    let stored = stored_plan(conn).await?;
    let plan = CityPlan::resolve(args, stored.as_ref(), OffsetDateTime::now_utc().date())?;
    Ok((stored, plan))
}

/// Checks the flags against the city in the database and adds the partitions its records
/// (and the demo residents' records of the last weeks) need, before anything else is
/// written.
///
/// # Errors
/// Conflicting flags (see [`CityPlan::resolve`]), database errors.
pub async fn prepare(db: &PgPool, args: &CityArgs) -> anyhow::Result<CityPlan> {
    let mut conn = db.acquire().await?;
    let (_, plan) = resolve_on(&mut conn, args).await?;
    ensure_partitions(&mut conn, &plan).await?;
    Ok(plan)
}
