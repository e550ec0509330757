//! `onecity device`: a device's key, registering a device for a resident (operators, demo
//! seeding), and a simulator that drives devices against a running portal.
//!
//! * `keygen --key-file F` creates the device's secret seed (mode 0600) when missing and
//!   prints its Ed25519 public key, what the registration form asks for;
//! * `register --account SUBJECT ...` registers a device for the resident of an account;
//! * `simulate --url URL --device ID,KEYFILE,METRIC ...` sends signed readings from each
//!   device every `--interval-ms`, for `--rounds` rounds (0: until stopped). Counters are the
//!   time of sending in microseconds, so they rise across restarts of the simulator.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use uuid::Uuid;

use crate::domain::devices::{self, NewDevice};
use crate::domain::rules::{self, NewRule};
use crate::seed::DbArgs;

#[derive(Subcommand, Debug)]
pub enum DeviceCommand {
    /// Create a device key (when missing) and print its public key.
    Keygen(KeygenArgs),
    /// Register a device for the resident of an account.
    Register(RegisterArgs),
    /// Link two devices of a resident with a rule (as the Devices page does).
    Link(LinkArgs),
    /// Send signed readings from devices to a running portal.
    Simulate(SimulateArgs),
}

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// The device's secret seed file (created with mode 0600 when missing).
    #[arg(long)]
    pub key_file: PathBuf,
}

/// Whose device: the resident of an account, in the portal's database, with its pseudonym key.
#[derive(Args, Debug)]
pub struct ResidentArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The identity provider's subject of the resident's account.
    #[arg(long)]
    pub account: String,
    /// The account's identity provider (as the portal's `--oidc-issuer`).
    #[arg(long, env = "ONECITY_OIDC_ISSUER")]
    pub issuer: String,
    /// Pseudonym key, as the portal's.
    #[arg(long, env = "ONECITY_PSEUDONYM_KEY_FILE")]
    pub pseudonym_key_file: PathBuf,
}

#[derive(Args, Debug)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub resident: ResidentArgs,
    #[arg(long)]
    pub label: String,
    /// One of the kinds the city registers (e.g. `meter.water`, `lock.door`).
    #[arg(long)]
    pub kind: String,
    #[arg(long)]
    pub brand: String,
    #[arg(long)]
    pub model: String,
    #[arg(long)]
    pub serial: String,
    /// The device's seed file (created when missing); its public key is registered.
    #[arg(long)]
    pub key_file: PathBuf,
}

#[derive(Args, Debug)]
pub struct LinkArgs {
    #[command(flatten)]
    pub resident: ResidentArgs,
    /// The device whose readings trigger the rule.
    #[arg(long)]
    pub trigger: Uuid,
    /// The trigger's metric, e.g. `leak`.
    #[arg(long)]
    pub metric: String,
    /// One of `==` `!=` `>` `>=` `<` `<=`.
    #[arg(long, default_value = "==")]
    pub comparison: String,
    #[arg(long, allow_hyphen_values = true)]
    pub threshold: i64,
    /// The device that acts.
    #[arg(long)]
    pub action: Uuid,
    /// What it is told, e.g. `close`.
    #[arg(long)]
    pub command: String,
    /// Local hours it may act, `HH:MM-HH:MM` (e.g. `23:00-06:00`); all day when left out.
    #[arg(long)]
    pub window: Option<String>,
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Tell the resident each time it acts.
    #[arg(long)]
    pub notify: bool,
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// The portal, e.g. `http://localhost:3000`.
    #[arg(long)]
    pub url: String,
    /// A device to drive: `ID,KEYFILE,METRIC` (repeat for more).
    #[arg(long = "device", required = true)]
    pub devices: Vec<String>,
    /// Time between rounds, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub interval_ms: u64,
    /// Rounds to send; 0 sends until stopped.
    #[arg(long, default_value_t = 0)]
    pub rounds: u64,
}

struct Simulated {
    id: Uuid,
    seed: [u8; 32],
    metric: String,
    value: i64,
    /// Told by a rule what to be: an open/on metric then keeps that value.
    commanded: bool,
}

impl Simulated {
    /// The next value: meters count up, locks open and close (unless a rule told them what to
    /// be), a leak is rare, sensors wander.
    fn step(&mut self, rng: &mut impl rand::Rng) -> i64 {
        self.value = match self.metric.split('.').next_back().unwrap_or_default() {
            "open" | "on" if self.commanded => self.value,
            "open" | "on" => i64::from(rng.gen_bool(0.5)),
            "leak" => i64::from(rng.gen_bool(0.02)),
            m if m.ends_with('s') || m == "kwh" || m == "wh" => self.value + rng.gen_range(0..20),
            _ => (self.value + rng.gen_range(-3..=3)).clamp(0, 500),
        };
        self.value
    }

    /// Acts on a command: the next readings report the state it asked for.
    fn obey(&mut self, command: &str) {
        match command {
            "close" | "off" | "lock" => self.value = 0,
            "open" | "on" | "unlock" => self.value = 1,
            _ => return,
        }
        self.commanded = true;
    }
}

fn parse_device(spec: &str) -> anyhow::Result<Simulated> {
    let mut parts = spec.splitn(3, ',');
    let (Some(id), Some(key), Some(metric)) = (parts.next(), parts.next(), parts.next()) else {
        anyhow::bail!("--device {spec:?}: expected ID,KEYFILE,METRIC");
    };
    let id: Uuid = id.parse().with_context(|| format!("--device {spec:?}: {id:?} is not a device id"))?;
    let seed = crate::keyfile::load_or_create_seed(std::path::Path::new(key))?;
    Ok(Simulated { id, seed, metric: metric.to_owned(), value: 0, commanded: false })
}

impl ResidentArgs {
    /// The database, the pseudonym key and the account's resident.
    async fn open(&self) -> anyhow::Result<(sqlx::PgPool, crate::domain::pseudonym::PseudonymKey, Uuid)> {
        let key = crate::domain::pseudonym::PseudonymKey::load_or_create(&self.pseudonym_key_file)?;
        let db = crate::seed::connect(&self.db).await?;
        let resident = sqlx::query_scalar!(
            "select r.resident_id from resident r join account a using (account_id)
             where a.subject = $1 and a.issuer = $2",
            self.account,
            self.issuer
        )
        .fetch_optional(&db)
        .await?
        .with_context(|| format!("no resident has the account {:?}", self.account))?;
        Ok((db, key, resident))
    }
}

/// `HH:MM-HH:MM` to local minutes after midnight.
fn parse_window(text: &str) -> anyhow::Result<(u16, u16)> {
    let parsed = text.split_once('-').and_then(|(s, e)| Some((rules::time_of_day(s)?, rules::time_of_day(e)?)));
    parsed.with_context(|| format!("--window {text:?}: expected HH:MM-HH:MM, e.g. 23:00-06:00"))
}

/// Runs one `device` command.
///
/// # Errors
/// Bad arguments, naming the problem; database or HTTP errors.
pub async fn run(command: DeviceCommand) -> anyhow::Result<()> {
    match command {
        DeviceCommand::Keygen(args) => {
            let seed = crate::keyfile::load_or_create_seed(&args.key_file)?;
            println!("{}", hex::encode(chain::device::public_key(&seed)));
            Ok(())
        }
        DeviceCommand::Register(args) => {
            let seed = crate::keyfile::load_or_create_seed(&args.key_file)?;
            let (db, key, resident) = args.resident.open().await?;
            let new = NewDevice {
                label: args.label,
                kind: args.kind,
                brand: args.brand,
                model: args.model,
                serial: args.serial,
                public_key: chain::device::public_key(&seed),
            };
            let d = devices::register(&db, &key, resident, &new, "resident").await?;
            println!("{}", d.device_id);
            Ok(())
        }
        DeviceCommand::Link(args) => {
            let window = args.window.as_deref().map(parse_window).transpose()?;
            let (db, key, resident) = args.resident.open().await?;
            let new = NewRule {
                trigger: args.trigger,
                metric: args.metric,
                comparison: args.comparison,
                threshold: args.threshold,
                action: args.action,
                command: args.command,
                notify: args.notify,
                window,
                valid_days: args.days,
            };
            let rule = rules::create(&db, &key, resident, &new, rules::CITY_UTC_OFFSET_MINUTES).await?;
            println!("{rule}");
            Ok(())
        }
        DeviceCommand::Simulate(args) => simulate(args).await,
    }
}

/// The parts of the portal's answer to accepted readings that a device acts on.
#[derive(Default, serde::Deserialize)]
struct Answer {
    #[serde(default)]
    fired: usize,
    #[serde(default)]
    commands: Vec<Told>,
}

#[derive(serde::Deserialize)]
struct Told {
    rule_id: Uuid,
    command: String,
}

async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let mut devices = args.devices.iter().map(|d| parse_device(d)).collect::<anyhow::Result<Vec<_>>>()?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let base = args.url.trim_end_matches('/');
    let mut rng = rand::thread_rng();
    let mut round = 0;
    while args.rounds == 0 || round < args.rounds {
        for d in &mut devices {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
            let reading = chain::device::Reading {
                device_id: chain::leaf::DeviceId(*d.id.as_bytes()),
                counter: u64::try_from(now.as_micros())?,
                measured_at: now.as_secs(),
                metric: d.metric.clone(),
                value: d.step(&mut rng),
            };
            let body = serde_json::json!({ "readings": [reading.sign(&d.seed)?] });
            let url = format!("{base}/api/v1/devices/{}/readings", d.id);
            match http.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => {
                    // What a device does with the answer: act on the commands its owner's rules
                    // sent it.
                    let answer: Answer = r.json().await.unwrap_or_default();
                    tracing::debug!(device = %d.id, fired = answer.fired, "reading accepted");
                    if answer.fired > 0 {
                        tracing::info!(device = %d.id, actions = answer.fired, "the reading made rules act");
                    }
                    for told in answer.commands {
                        tracing::info!(device = %d.id, rule = %told.rule_id, command = %told.command, "told to act");
                        d.obey(&told.command);
                    }
                }
                // A refused reading is the portal working as it should (a suspended device):
                // say so and keep going.
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    tracing::warn!(device = %d.id, %status, body = %text, "reading refused");
                }
                Err(e) => tracing::warn!(device = %d.id, error = %e, "portal unreachable"),
            }
        }
        round += 1;
        if args.rounds == 0 || round < args.rounds {
            tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
        }
    }
    Ok(())
}
