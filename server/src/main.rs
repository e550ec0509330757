//! `onecity`: the portal server and its operator commands.

use clap::{Parser, Subcommand};
use server::config::ServeArgs;

#[derive(Parser)]
#[command(name = "onecity", version, about = "One person, one city: the resident portal and its ledger")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once at startup; size is irrelevant")]
enum Command {
    /// Run the portal (web server, sign-in, pages).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(server::seed::DbArgs),
    /// Load the demo city into the database: the test accounts and a synthetic city of
    /// `--residents` generated from `--seed` (idempotent and resumable; see docs/scale.md).
    Seed(server::seed::SeedArgs),
    /// Print the log's verifier key, creating its signing key file if missing.
    LedgerKey(LedgerKeyArgs),
    /// Run or set up a consortium witness node (C2SP tlog-witness).
    #[command(subcommand)]
    Witness(server::witness::WitnessCommand),
    /// Check a downloaded proof bundle offline against trusted keys.
    Verify(server::cli::verify::VerifyArgs),
    /// Seal, amend or erase confirmation records (operators).
    #[command(subcommand)]
    Records(server::cli::records::RecordsCommand),
    /// Device keys, registration for a resident, and a simulator of devices sending readings.
    #[command(subcommand)]
    Device(server::cli::device::DeviceCommand),
}

#[derive(clap::Args)]
struct LedgerKeyArgs {
    /// File with the log's signing seed (created with mode 0600 when missing).
    #[arg(long, env = "ONECITY_LEDGER_KEY_FILE")]
    key_file: std::path::PathBuf,
    /// The log's name (checkpoint origin).
    #[arg(long, env = "ONECITY_LEDGER_ORIGIN", default_value = "ledger.onecity.example")]
    origin: String,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=info,sqlx=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => server::http::serve(args.resolve()?).await,
            Command::Migrate(args) => server::seed::migrate(&args).await,
            Command::Seed(args) => server::seed::seed_demo(&args).await,
            Command::LedgerKey(args) => {
                let seed = server::keyfile::load_or_create_seed(&args.key_file)?;
                println!("{}", chain::note::NoteSigner::from_seed(&args.origin, &seed)?.verifier_key());
                Ok(())
            }
            Command::Witness(command) => server::witness::run(command).await,
            Command::Verify(args) => server::cli::verify::run(&args).map(|verdict| print!("{verdict}")),
            Command::Records(command) => server::cli::records::run(command).await,
            Command::Device(command) => server::cli::device::run(command).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line, e.g.
            // "missing setting: pass --oidc-issuer or set ONECITY_OIDC_ISSUER (...)".
            eprintln!("onecity: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
