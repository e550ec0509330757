//! `onecity records`: the operator's side of sealed confirmation records.
//!
//! * `seal` seals everything pending now, with a progress bar and the rate (a freshly seeded
//!   large city; a running portal seals on its own every `--seal-interval-secs`);
//! * `amend <id> --data <json>` records a new version of a record, keeping the old one sealed;
//! * `erase <id> --operator <who>` erases a record on a request received outside the portal,
//!   leaving a purge receipt (`records.erased`) on the ledger.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use uuid::Uuid;

use crate::domain::records::{self, Requester};
use crate::seed::DbArgs;

#[derive(Subcommand, Debug)]
pub enum RecordsCommand {
    /// Seal every confirmation-record version recorded so far, in batches.
    Seal(SealArgs),
    /// Record a new version of a confirmation record.
    Amend(AmendArgs),
    /// Erase a confirmation record (content and salts), leaving a purge receipt.
    Erase(EraseArgs),
}

#[derive(Args, Debug)]
pub struct SealArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Most versions per batch (as the portal's `--seal-batch`).
    #[arg(long, env = "ONECITY_SEAL_BATCH", default_value_t = 4096)]
    pub batch: usize,
}

#[derive(Args, Debug)]
pub struct AmendArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The record's id.
    pub record: Uuid,
    /// The new content, a JSON object.
    #[arg(long)]
    pub data: String,
}

#[derive(Args, Debug)]
pub struct EraseArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The record's id.
    pub record: Uuid,
    /// Who is erasing it (the operator's staff account), recorded in the purge receipt.
    #[arg(long)]
    pub operator: String,
}

/// Runs one `records` command.
///
/// # Errors
/// Bad arguments, naming the problem; database errors.
pub async fn run(command: RecordsCommand) -> anyhow::Result<()> {
    match command {
        RecordsCommand::Seal(args) => {
            anyhow::ensure!((1..=65_536).contains(&args.batch), "--batch must be between 1 and 65536");
            let db = crate::seed::connect(&args.db).await?;
            let (n, took) = crate::ledger::seal::seal_all(&db, args.batch, std::io::stderr().is_terminal()).await?;
            println!(
                "sealed {n} record versions in {:.1} s ({:.0} versions/s)",
                took.as_secs_f64(),
                n as f64 / took.as_secs_f64().max(1e-9)
            );
            Ok(())
        }
        RecordsCommand::Amend(args) => {
            let data: serde_json::Value = serde_json::from_str(&args.data).context("--data is not JSON")?;
            anyhow::ensure!(data.is_object(), "--data must be a JSON object");
            let db = crate::seed::connect(&args.db).await?;
            let mut tx = db.begin().await?;
            let version = records::amend_confirmation(&mut tx, args.record, &data).await?;
            tx.commit().await?;
            println!("record {} is now at version {version}; it will be sealed in the next batch", args.record);
            Ok(())
        }
        RecordsCommand::Erase(args) => {
            let who = args.operator.trim();
            anyhow::ensure!(
                !who.is_empty() && who.len() <= 200 && !who.contains(char::is_control),
                "--operator must name who is erasing (1 to 200 characters)"
            );
            let db = crate::seed::connect(&args.db).await?;
            let mut tx = db.begin().await?;
            let erased = records::erase(&mut tx, args.record, &Requester::Operator(who.to_owned())).await?;
            tx.commit().await?;
            println!(
                "record {} erased: {} versions ({} sealed); purge receipt queued as ledger entry {}",
                erased.record, erased.versions, erased.sealed_versions, erased.ledger_entry_id
            );
            Ok(())
        }
    }
}
