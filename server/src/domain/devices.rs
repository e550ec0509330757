//! Devices and their passports (docs/devices.md): registration, suspension, resumption,
//! retirement and transfer, each one ledger entry in the same transaction as its row; and the
//! readings a device signs, checked against its passport before anything is stored.
//!
//! Owners appear on the ledger as their pseudonym at [`REGISTRY`], the city's device registry,
//! so a passport names no resident and cannot be joined with any agency's pseudonyms.

use chain::device::{SignedReading, serial_commitment};
use chain::leaf::{DeviceId, DeviceState, Event, KEY_ED25519, Passport};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::pseudonym::PseudonymKey;
use crate::clock::{now_s, unix};

/// The service id owners' pseudonyms on passports are derived for: the city's device
/// registry. Not a row of `service`; only a constant of the pseudonym derivation.
pub const REGISTRY: Uuid = Uuid::from_u128(0x6f6e_6563_6974_7900_8000_0000_6465_7631);
/// Most readings one request may carry.
pub const MAX_READINGS_PER_REQUEST: usize = 500;
/// How far ahead of the server's clock a reading may be dated.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// Kinds of device the portal registers, with the scope their readings become.
pub const KINDS: &[(&str, &str)] = &[
    ("meter.water", "utilities.readings"),
    ("meter.electricity", "utilities.readings"),
    ("meter.gas", "utilities.readings"),
    ("lock.door", "home.devices"),
    ("lock.bike", "home.devices"),
    ("sensor.air", "home.devices"),
    ("sensor.leak", "home.devices"),
    ("valve.water", "home.devices"),
    ("light", "home.devices"),
];

/// A new device as a resident (or a brand platform for them) describes it.
#[derive(Clone, Debug)]
pub struct NewDevice {
    pub label: String,
    pub kind: String,
    pub brand: String,
    pub model: String,
    pub serial: String,
    /// Ed25519 public key.
    pub public_key: [u8; 32],
}

/// A device as its owner sees it.
#[derive(Clone, Debug, Serialize)]
pub struct Device {
    pub device_id: Uuid,
    pub label: String,
    pub kind: String,
    pub brand: String,
    pub model: String,
    pub serial: String,
    /// Ed25519 public key, hex.
    pub public_key: String,
    pub state: String,
    pub last_counter: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_reading_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
    /// Log index of the `device.registered` entry, once sequenced.
    pub registered_index: Option<i64>,
}

/// What a state change asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Suspend,
    Resume,
    Retire,
}

impl Change {
    fn target(self) -> DeviceState {
        match self {
            Self::Suspend => DeviceState::Suspended,
            Self::Resume => DeviceState::Active,
            Self::Retire => DeviceState::Retired,
        }
    }

    fn event_kind(self) -> &'static str {
        match self {
            Self::Suspend => "suspended",
            Self::Resume => "resumed",
            Self::Retire => "retired",
        }
    }
}

/// Why a device operation was refused. Nothing is written then.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("there is no device {0}")]
    NotFound(Uuid),
    #[error("{field}: {problem}")]
    Invalid { field: &'static str, problem: String },
    #[error("this public key is already registered to another device")]
    KeyInUse,
    #[error("a device with this brand, model and serial number is already registered")]
    SerialInUse,
    #[error("the device is {state}; it cannot be {wanted}")]
    WrongState { state: String, wanted: &'static str },
    #[error("the device already belongs to that resident")]
    SameOwner,
    #[error("there is no rule {0}")]
    RuleNotFound(Uuid),
    #[error("the rule is already revoked")]
    RuleRevoked,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for DeviceError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.constraint() == Some("device_public_key_idx") => Self::KeyInUse,
            sqlx::Error::Database(d) if d.constraint() == Some("device_serial_idx") => Self::SerialInUse,
            _ => Self::Other(e.into()),
        }
    }
}

fn invalid(field: &'static str, problem: impl Into<String>) -> DeviceError {
    DeviceError::Invalid { field, problem: problem.into() }
}

fn check_name(field: &'static str, v: &str, max: usize) -> Result<(), DeviceError> {
    if v.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if v.len() > max {
        return Err(invalid(field, format!("is {} bytes, at most {max}", v.len())));
    }
    if v.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// Checks a new device's description, naming the first bad field.
///
/// # Errors
/// [`DeviceError::Invalid`].
pub fn validate(d: &NewDevice) -> Result<(), DeviceError> {
    check_name("label", &d.label, 80)?;
    if !KINDS.iter().any(|(k, _)| *k == d.kind) {
        let known: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        return Err(invalid(
            "kind",
            format!("{:?} is not a kind of device the city knows ({})", d.kind, known.join(", ")),
        ));
    }
    check_name("brand", &d.brand, 128)?;
    check_name("model", &d.model, 128)?;
    check_name("serial", &d.serial, 128)?;
    if !chain::device::usable_key(&d.public_key) {
        return Err(invalid("public_key", "is not a usable Ed25519 public key"));
    }
    Ok(())
}

/// The scope a kind's readings become.
#[must_use]
pub fn scope_of(kind: &str) -> &'static str {
    KINDS.iter().find(|(k, _)| *k == kind).map_or("home.devices", |(_, s)| s)
}

/// Moves the residents' data version (their pages show their devices), in the caller's
/// transaction.
pub(crate) async fn touch(conn: &mut PgConnection, residents: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query!("update resident set data_version = data_version + 1 where resident_id = any($1)", residents)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Registers a device for `resident_id`: its row and its `device.registered` entry in one
/// transaction. `registered_by` is `resident` or `platform:<client id>`.
///
/// # Errors
/// [`DeviceError`] naming the problem; nothing is written then.
pub async fn register(
    db: &PgPool,
    key: &PseudonymKey,
    resident_id: Uuid,
    new: &NewDevice,
    registered_by: &str,
) -> Result<Device, DeviceError> {
    validate(new)?;
    let device_id = Uuid::new_v4();
    let at = now_s();
    let id = DeviceId(*device_id.as_bytes());
    let event = Event::DeviceRegisteredV2(Passport {
        device_id: id,
        owner: key.pseudonym(resident_id, REGISTRY),
        kind: new.kind.clone(),
        brand: new.brand.trim().to_owned(),
        model: new.model.trim().to_owned(),
        serial_commitment: serial_commitment(&id, new.serial.trim()),
        key_type: KEY_ED25519,
        public_key: new.public_key.to_vec(),
        registered_at: unix(at)?,
    });
    let mut tx = db.begin().await?;
    let entry = crate::ledger::enqueue(&mut tx, &event).await?;
    sqlx::query!(
        // language=PostgreSQL
        r#"insert into device (device_id, resident_id, label, kind, brand, model, serial, key_type, public_key,
                               registered_by, registered_at, registered_entry_id)
           values ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, $11)"#,
        device_id,
        resident_id,
        new.label.trim(),
        new.kind,
        new.brand.trim(),
        new.model.trim(),
        new.serial.trim(),
        &new.public_key[..],
        registered_by,
        at,
        entry
    )
    .execute(&mut *tx)
    .await?;
    touch(&mut tx, &[resident_id]).await?;
    tx.commit().await?;
    get_own(db, resident_id, device_id).await
}

/// The resident's devices, newest first.
///
/// # Errors
/// Database errors.
pub async fn list(db: &PgPool, resident_id: Uuid) -> Result<Vec<Device>, DeviceError> {
    Ok(sqlx::query_as!(
        Device,
        r#"select d.device_id, d.label, d.kind, d.brand, d.model, d.serial, encode(d.public_key, 'hex') as "public_key!",
                  d.state, d.last_counter,
                  d.last_reading_at, d.registered_at, e.leaf_index as registered_index
           from device d join ledger_entry e on e.ledger_entry_id = d.registered_entry_id
           where d.resident_id = $1 order by d.registered_at desc, d.device_id"#,
        resident_id
    )
    .fetch_all(db)
    .await?)
}

/// One of the resident's devices; another resident's is [`DeviceError::NotFound`].
///
/// # Errors
/// [`DeviceError::NotFound`]; database errors.
pub async fn get_own(db: &PgPool, resident_id: Uuid, device_id: Uuid) -> Result<Device, DeviceError> {
    sqlx::query_as!(
        Device,
        r#"select d.device_id, d.label, d.kind, d.brand, d.model, d.serial, encode(d.public_key, 'hex') as "public_key!",
                  d.state, d.last_counter,
                  d.last_reading_at, d.registered_at, e.leaf_index as registered_index
           from device d join ledger_entry e on e.ledger_entry_id = d.registered_entry_id
           where d.device_id = $1 and d.resident_id = $2"#,
        device_id,
        resident_id
    )
    .fetch_optional(db)
    .await?
    .ok_or(DeviceError::NotFound(device_id))
}

/// Locks the device row of `resident_id` for a change; another resident's is not found.
async fn lock_own(conn: &mut PgConnection, resident_id: Uuid, device_id: Uuid) -> Result<DeviceState, DeviceError> {
    let state = sqlx::query_scalar!(
        "select state from device where device_id = $1 and resident_id = $2 for update",
        device_id,
        resident_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(DeviceError::NotFound(device_id))?;
    DeviceState::from_name(&state).ok_or_else(|| anyhow::anyhow!("device {device_id} has state {state:?}").into())
}

/// Suspends, resumes or retires one of the resident's devices: the row, a `device.status`
/// entry and its history line in one transaction. Retired is final; suspending a suspended
/// device (or resuming an active one) is refused.
///
/// # Errors
/// [`DeviceError::WrongState`], [`DeviceError::NotFound`], [`DeviceError::Invalid`] for a
/// reason over 512 bytes.
pub async fn change_state(
    db: &PgPool,
    key: &PseudonymKey,
    resident_id: Uuid,
    device_id: Uuid,
    change: Change,
    reason: &str,
    requested_by: &str,
) -> Result<Device, DeviceError> {
    let reason = reason.trim();
    if reason.len() > chain::leaf::MAX_DEVICE_REASON {
        return Err(invalid(
            "reason",
            format!("is {} bytes, at most {}", reason.len(), chain::leaf::MAX_DEVICE_REASON),
        ));
    }
    let mut tx = db.begin().await?;
    let state = lock_own(&mut tx, resident_id, device_id).await?;
    let allowed = matches!(
        (state, change),
        (DeviceState::Active, Change::Suspend | Change::Retire)
            | (DeviceState::Suspended, Change::Resume | Change::Retire)
    );
    if !allowed {
        return Err(DeviceError::WrongState { state: state.name().to_owned(), wanted: change.event_kind() });
    }
    let at = now_s();
    let target = change.target();
    let event = Event::DeviceStatus {
        device_id: DeviceId(*device_id.as_bytes()),
        owner: key.pseudonym(resident_id, REGISTRY),
        state: target,
        reason: reason.to_owned(),
        changed_at: unix(at)?,
    };
    let entry = crate::ledger::enqueue(&mut tx, &event).await?;
    sqlx::query!("update device set state = $2 where device_id = $1", device_id, target.name())
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "insert into device_event (device_id, kind, resident_id, reason, requested_by, ledger_entry_id, at)
         values ($1, $2, $3, $4, $5, $6, $7)",
        device_id,
        change.event_kind(),
        resident_id,
        reason,
        requested_by,
        entry,
        at
    )
    .execute(&mut *tx)
    .await?;
    if change == Change::Retire {
        // A retired device acts on nothing and triggers nothing again.
        super::rules::revoke_for_device(&mut tx, key, resident_id, device_id).await?;
    }
    touch(&mut tx, &[resident_id]).await?;
    tx.commit().await?;
    get_own(db, resident_id, device_id).await
}

/// Moves an active device from `from` to `to`: the row, a `device.transferred` entry and its
/// history line in one transaction. Its counter stays, so readings the old owner's copy of
/// the device sent cannot be replayed to the new owner.
///
/// # Errors
/// [`DeviceError::WrongState`] unless active, [`DeviceError::SameOwner`],
/// [`DeviceError::NotFound`].
pub async fn transfer(
    db: &PgPool,
    key: &PseudonymKey,
    from: Uuid,
    device_id: Uuid,
    to: Uuid,
    requested_by: &str,
) -> Result<Device, DeviceError> {
    let mut tx = db.begin().await?;
    transfer_in(&mut tx, key, from, device_id, to, requested_by).await?;
    tx.commit().await?;
    get_own(db, to, device_id).await
}

/// [`transfer`] in the caller's transaction. The giver's rules involving the device are
/// revoked with it: the new holder's devices are not theirs to link.
async fn transfer_in(
    tx: &mut PgConnection,
    key: &PseudonymKey,
    from: Uuid,
    device_id: Uuid,
    to: Uuid,
    requested_by: &str,
) -> Result<(), DeviceError> {
    if from == to {
        return Err(DeviceError::SameOwner);
    }
    let state = lock_own(&mut *tx, from, device_id).await?;
    if state != DeviceState::Active {
        return Err(DeviceError::WrongState { state: state.name().to_owned(), wanted: "transferred" });
    }
    let at = now_s();
    let event = Event::DeviceTransferred {
        device_id: DeviceId(*device_id.as_bytes()),
        from: key.pseudonym(from, REGISTRY),
        to: key.pseudonym(to, REGISTRY),
        transferred_at: unix(at)?,
    };
    let entry = crate::ledger::enqueue(&mut *tx, &event).await?;
    sqlx::query!("update device set resident_id = $2 where device_id = $1", device_id, to).execute(&mut *tx).await?;
    sqlx::query!(
        "insert into device_event (device_id, kind, resident_id, from_resident_id, requested_by, ledger_entry_id, at)
         values ($1, 'transferred', $2, $3, $4, $5, $6)",
        device_id,
        to,
        from,
        requested_by,
        entry,
        at
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("delete from device_transfer_offer where device_id = $1", device_id).execute(&mut *tx).await?;
    super::rules::revoke_for_device(&mut *tx, key, from, device_id).await?;
    touch(&mut *tx, &[from, to]).await?;
    Ok(())
}

/// How long a transfer's claim code can be used.
pub const CLAIM_CODE_HOURS: i64 = 24;
/// The claim code's alphabet: no 0/O, 1/I/L or U, so it reads aloud and types without doubt.
const CLAIM_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTVWXYZ23456789";

/// An open offer to hand a device to whoever enters its code.
#[derive(Clone, Debug)]
pub struct TransferOffer {
    /// `XXXX-XXXX-XXXX`, 59 bits: shown to the holder once, kept only as a hash.
    pub code: String,
    pub expires_at: OffsetDateTime,
}

fn claim_hash(code: &str) -> Result<Vec<u8>, DeviceError> {
    let normal: String =
        code.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    if normal.len() != 12 || !normal.bytes().all(|b| CLAIM_ALPHABET.contains(&b)) {
        return Err(invalid("code", "a claim code is 12 letters and digits, like ABCD-EFGH-JKMN"));
    }
    Ok(chain::Hash::sha256(normal.as_bytes()).0.to_vec())
}

/// Offers one of the holder's devices for transfer: a new claim code, valid for
/// [`CLAIM_CODE_HOURS`], replacing any earlier offer for it. Whoever the holder gives the code
/// to claims the device from their own Devices page ([`claim`]).
///
/// # Errors
/// [`DeviceError::NotFound`] for a device that is not the holder's; [`DeviceError::WrongState`]
/// unless it is active.
pub async fn offer_transfer(db: &PgPool, holder: Uuid, device_id: Uuid) -> Result<TransferOffer, DeviceError> {
    use rand::Rng as _;
    let mut rng = rand::rngs::OsRng;
    let chars: Vec<char> =
        (0..12).map(|_| char::from(CLAIM_ALPHABET[rng.gen_range(0..CLAIM_ALPHABET.len())])).collect();
    let code = chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-");
    let expires_at = now_s() + time::Duration::hours(CLAIM_CODE_HOURS);
    let mut tx = db.begin().await?;
    let state = lock_own(&mut tx, holder, device_id).await?;
    if state != DeviceState::Active {
        return Err(DeviceError::WrongState { state: state.name().to_owned(), wanted: "transferred" });
    }
    sqlx::query!(
        "insert into device_transfer_offer (device_id, resident_id, code_hash, expires_at) values ($1, $2, $3, $4)
         on conflict (device_id) do update
         set resident_id = excluded.resident_id, code_hash = excluded.code_hash, created_at = now(),
             expires_at = excluded.expires_at",
        device_id,
        holder,
        claim_hash(&code)?,
        expires_at
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(TransferOffer { code, expires_at })
}

/// Withdraws the holder's offer for a device (nothing happens when there is none).
///
/// # Errors
/// [`DeviceError::NotFound`] for a device that is not the holder's.
pub async fn cancel_transfer(db: &PgPool, holder: Uuid, device_id: Uuid) -> Result<(), DeviceError> {
    get_own(db, holder, device_id).await?;
    sqlx::query!("delete from device_transfer_offer where device_id = $1 and resident_id = $2", device_id, holder)
        .execute(db)
        .await?;
    Ok(())
}

/// When the holder's open offer for a device expires, if there is one.
///
/// # Errors
/// Database errors.
pub async fn open_offer(db: &PgPool, holder: Uuid, device_id: Uuid) -> Result<Option<OffsetDateTime>, DeviceError> {
    Ok(sqlx::query_scalar!(
        "select expires_at from device_transfer_offer where device_id = $1 and resident_id = $2 and expires_at > now()",
        device_id,
        holder
    )
    .fetch_optional(db)
    .await?)
}

/// Claims the device a code was given for: it moves to `claimant` (a `device.transferred`
/// entry), and the code is spent, in one transaction.
///
/// # Errors
/// [`DeviceError::Invalid`] (`code`) for a malformed, unknown or expired code;
/// [`DeviceError::SameOwner`] when the claimant already holds it (the code stays usable);
/// [`DeviceError::WrongState`] when the device is no longer active.
pub async fn claim(db: &PgPool, key: &PseudonymKey, claimant: Uuid, code: &str) -> Result<Device, DeviceError> {
    let hash = claim_hash(code)?;
    let mut tx = db.begin().await?;
    let offer = sqlx::query!(
        "delete from device_transfer_offer where code_hash = $1 returning device_id, resident_id, expires_at",
        hash
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| invalid("code", "no device is offered under this code (it may have been used or withdrawn)"))?;
    if offer.expires_at <= now_s() {
        // Spent either way: an expired code is removed.
        tx.commit().await?;
        return Err(invalid("code", "this code has expired; ask the holder for a new one"));
    }
    transfer_in(&mut tx, key, offer.resident_id, offer.device_id, claimant, "resident").await?;
    tx.commit().await?;
    get_own(db, claimant, offer.device_id).await
}

/// Why readings were refused. Nothing of the request is stored then.
#[derive(Debug, thiserror::Error)]
pub enum ReadingError {
    #[error("there is no device {0}")]
    UnknownDevice(Uuid),
    #[error("reading {index}: {problem}")]
    Malformed { index: usize, problem: String },
    #[error("reading {index}: the signature does not verify with the device's registered key")]
    BadSignature { index: usize },
    #[error(
        "reading {index}: counter {counter} is not above {last}, the last one accepted (a replay or a reading out of order)"
    )]
    Replayed { index: usize, counter: u64, last: i64 },
    #[error("the device is {0}: its readings are not accepted")]
    NotInService(String),
    #[error("the device changed hands while its readings were checked; send them again")]
    ChangedHands,
    #[error("no readings in the request")]
    Empty,
    #[error("{0} readings in one request; at most {MAX_READINGS_PER_REQUEST}")]
    TooMany(usize),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ReadingError {
    fn from(e: sqlx::Error) -> Self {
        Self::Other(e.into())
    }
}

/// What a request of readings stored, and what the device is told to do.
#[derive(Clone, Debug, Serialize)]
pub struct Accepted {
    pub accepted: usize,
    /// The device's counter now.
    pub counter: u64,
    /// Actions these readings caused through the owner's rules (docs/devices.md "Rules").
    pub fired: usize,
    /// Commands rules sent to this device since it last posted, oldest first.
    pub commands: Vec<super::rules::Command>,
}

/// Checks and stores readings of one device, all or nothing: each must be signed by the
/// device's registered key, the counters must rise (within the request and above the last
/// accepted), the device must be active, and no reading may be dated more than
/// [`MAX_CLOCK_SKEW_SECS`] ahead. Accepted readings become behavioral records of the owner
/// (the scope of the device's kind), which moves the owner's data version and so their pages.
///
/// # Errors
/// [`ReadingError`] naming the first reading at fault.
///
/// The owner's rules triggered by these readings fire in the same transaction, each checked
/// by `gate` first; `None` only where no device has rules (the ingestion benchmark): a device
/// with rules then fails the request rather than skip them.
pub async fn ingest(
    db: &PgPool,
    gate: Option<&super::gate::Gate>,
    device_id: Uuid,
    readings: &[SignedReading],
) -> Result<Accepted, ReadingError> {
    if readings.is_empty() {
        return Err(ReadingError::Empty);
    }
    if readings.len() > MAX_READINGS_PER_REQUEST {
        return Err(ReadingError::TooMany(readings.len()));
    }
    // Read without a lock: a device's key, kind and registration never change, and the
    // statement that stores the readings checks the state, the holder and the counter again
    // under the row's lock (`Checked::store`). Whether rules may be involved decides whether
    // storing needs a transaction around more than that one statement.
    let device = sqlx::query!(
        r#"select d.resident_id, d.kind, d.public_key, d.state, d.last_counter, e.body as registration,
                  exists (select 1 from device_rule r
                          where r.trigger_device_id = d.device_id
                            and not exists (select 1 from device_rule_revocation v where v.rule_id = r.rule_id))
                      as "has_rules!",
                  exists (select 1 from device_rule_firing f
                          where f.action_device_id = d.device_id and f.delivered_at is null) as "has_commands!"
           from device d join ledger_entry e on e.ledger_entry_id = d.registered_entry_id
           where d.device_id = $1"#,
        device_id
    )
    .fetch_optional(db)
    .await?
    .ok_or(ReadingError::UnknownDevice(device_id))?;
    if device.state != "active" {
        return Err(ReadingError::NotInService(device.state));
    }
    let id = DeviceId(*device_id.as_bytes());
    // Signatures are checked with the key the registration entry published (the log's copy,
    // which the sequencer's integrity check covers), never with the row's alone: a key
    // swapped in the row behind the server's back is an alarm, not a new device identity.
    let passport = match Event::decode(&device.registration) {
        Ok(Event::DeviceRegisteredV2(p)) if p.device_id == id && p.public_key == device.public_key => p,
        _ => {
            let detail = format!("device {device_id}: its row's key is not the key its registration entry published");
            let mut conn = db.acquire().await?;
            crate::ledger::raise_alarm(&mut conn, "device.tampered", &detail).await?;
            return Err(ReadingError::Other(anyhow::anyhow!(detail)));
        }
    };
    let batch = Checked::new(&passport, device_id, device.resident_id, &device.kind, device.last_counter, readings)?;
    let counter = u64::try_from(batch.last).unwrap_or(0);
    if !device.has_rules && !device.has_commands {
        // Nothing else belongs in the transaction: one statement, committed on its own.
        batch.store(&mut *db.acquire().await?).await?;
        return Ok(Accepted { accepted: readings.len(), counter, fired: 0, commands: vec![] });
    }
    let mut tx = db.begin().await?;
    // The store's row lock is held to the commit: a rule fires, and a command goes out, once.
    batch.store(&mut tx).await?;
    let fired = super::rules::fire(&mut tx, gate, device_id, device.resident_id, readings).await?;
    let commands = super::rules::collect(&mut tx, device_id).await?;
    if fired > 0 {
        touch(&mut tx, &[device.resident_id]).await?;
    }
    tx.commit().await?;
    Ok(Accepted { accepted: readings.len(), counter, fired, commands })
}

/// The readings of one request, checked against the passport and the counter last read: ready
/// to store as the owner's behavioral records.
struct Checked {
    device_id: Uuid,
    resident_id: Uuid,
    scope: &'static str,
    counters: Vec<i64>,
    times: Vec<OffsetDateTime>,
    data: Vec<serde_json::Value>,
    /// What the sealer commits for each reading (docs/ledger-format.md §8.5).
    commitments: Vec<Vec<u8>>,
    last: i64,
}

impl Checked {
    /// Checks each reading: signature, counter above `last_counter` and rising, time.
    fn new(
        passport: &Passport,
        device_id: Uuid,
        resident_id: Uuid,
        kind: &str,
        last_counter: i64,
        readings: &[SignedReading],
    ) -> Result<Self, ReadingError> {
        let id = DeviceId(*device_id.as_bytes());
        let horizon = OffsetDateTime::now_utc().unix_timestamp() + MAX_CLOCK_SKEW_SECS;
        let mut last = last_counter;
        let n = readings.len();
        let (mut counters, mut times) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut data, mut commitments) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for (index, r) in readings.iter().enumerate() {
            r.verify(passport.key_type, &passport.public_key, &id).map_err(|e| match e {
                chain::Error::BadReadingSignature => ReadingError::BadSignature { index },
                other => ReadingError::Malformed { index, problem: other.to_string() },
            })?;
            let reading = &r.reading;
            let counter = i64::try_from(reading.counter).map_err(|_| ReadingError::Malformed {
                index,
                problem: format!("counter must be at most {}", i64::MAX),
            })?;
            if counter <= last {
                return Err(ReadingError::Replayed { index, counter: reading.counter, last });
            }
            let measured = i64::try_from(reading.measured_at).unwrap_or(i64::MAX);
            if measured > horizon {
                return Err(ReadingError::Malformed {
                    index,
                    problem: format!("measured_at {} is in the future", reading.measured_at),
                });
            }
            let at = OffsetDateTime::from_unix_timestamp(measured)
                .map_err(|_| ReadingError::Malformed { index, problem: "measured_at is out of range".into() })?;
            let commitment =
                r.seal_commitment().map_err(|e| ReadingError::Malformed { index, problem: e.to_string() })?;
            last = counter;
            counters.push(counter);
            times.push(at);
            commitments.push(commitment.0.to_vec());
            // The device's own words, signature included: whoever receives the record through
            // the gate can check it against the public passport.
            data.push(serde_json::json!({
                "device": device_id,
                "kind": kind,
                "metric": reading.metric,
                "value": reading.value,
                "counter": reading.counter,
                "signature": r.signature,
            }));
        }
        Ok(Self { device_id, resident_id, scope: scope_of(kind), counters, times, data, commitments, last })
    }

    /// Stores the readings, queues them for sealing and moves the device's counter in one
    /// statement, only if the device is still active, still the same resident's, and its
    /// counter still below the first reading's: checked under the row's lock, so of two
    /// requests racing with the same counters exactly one stores. Otherwise nothing is stored
    /// and the error says why.
    async fn store(&self, conn: &mut PgConnection) -> Result<(), ReadingError> {
        let first = self.counters.first().copied().unwrap_or(i64::MAX);
        let stored = sqlx::query!(
            // language=PostgreSQL
            r#"with d as (
                 update device set last_counter = $3, last_reading_at = now()
                 where device_id = $1 and resident_id = $2 and state = 'active' and last_counter < $4
                 returning device_id, resident_id),
               sealing as (
                 insert into reading_seal_queue (device_id, counter, measured_at, commitment)
                 select d.device_id, x.c, x.t, x.h from d, unnest($8::bigint[], $6::timestamptz[], $9::bytea[]) as x(c, t, h))
               insert into behavioral_record (resident_id, scope_key, occurred_at, data)
               select d.resident_id, $5, x.t, x.d from d, unnest($6::timestamptz[], $7::jsonb[]) as x(t, d)"#,
            self.device_id,
            self.resident_id,
            self.last,
            first,
            self.scope,
            &self.times,
            &self.data,
            &self.counters,
            &self.commitments
        )
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if stored == self.times.len() as u64 {
            return Ok(());
        }
        // Changed since it was read: say how.
        let now =
            sqlx::query!("select state, resident_id, last_counter from device where device_id = $1", self.device_id)
                .fetch_one(&mut *conn)
                .await?;
        if now.state != "active" {
            return Err(ReadingError::NotInService(now.state));
        }
        if now.resident_id != self.resident_id {
            return Err(ReadingError::ChangedHands);
        }
        match self.counters.iter().position(|&c| c <= now.last_counter) {
            Some(index) => Err(ReadingError::Replayed {
                index,
                counter: u64::try_from(self.counters[index]).unwrap_or(0),
                last: now.last_counter,
            }),
            None => Err(ReadingError::Other(anyhow::anyhow!("device {}: readings not stored", self.device_id))),
        }
    }
}

/// A device's public passport as the server holds it (the ledger's copy is in the bundle).
#[derive(Clone, Debug, Serialize)]
pub struct PublicPassport {
    pub device_id: Uuid,
    pub kind: String,
    pub brand: String,
    pub model: String,
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
    /// Log index of the registration, once sequenced.
    pub registered_index: Option<i64>,
}

/// Any device's public passport (no owner, no serial, no label).
///
/// # Errors
/// [`DeviceError::NotFound`]; database errors.
pub async fn public_passport(db: &PgPool, device_id: Uuid) -> Result<PublicPassport, DeviceError> {
    sqlx::query_as!(
        PublicPassport,
        r#"select d.device_id, d.kind, d.brand, d.model, d.state, d.registered_at, e.leaf_index as registered_index
           from device d join ledger_entry e on e.ledger_entry_id = d.registered_entry_id where d.device_id = $1"#,
        device_id
    )
    .fetch_optional(db)
    .await?
    .ok_or(DeviceError::NotFound(device_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NewDevice {
        NewDevice {
            label: "Kitchen water meter".into(),
            kind: "meter.water".into(),
            brand: "Aquarius".into(),
            model: "AQ-200".into(),
            serial: "AQ200-1".into(),
            public_key: chain::device::public_key(&[7; 32]),
        }
    }

    #[test]
    fn validation_names_the_field() {
        validate(&sample()).unwrap();
        let e = validate(&NewDevice { kind: "toaster".into(), ..sample() }).unwrap_err().to_string();
        assert!(e.starts_with("kind: \"toaster\" is not a kind of device the city knows"), "{e}");
        let e = validate(&NewDevice { brand: " ".into(), ..sample() }).unwrap_err().to_string();
        assert_eq!(e, "brand: must not be empty");
        let e = validate(&NewDevice { serial: "a\nb".into(), ..sample() }).unwrap_err().to_string();
        assert_eq!(e, "serial: must not contain control characters");
        // The identity point is a valid encoding but a weak key: any signature would verify.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let e = validate(&NewDevice { public_key: identity, ..sample() }).unwrap_err().to_string();
        assert_eq!(e, "public_key: is not a usable Ed25519 public key");
    }

    #[test]
    fn every_kind_has_a_scope_of_the_catalogue() {
        for (kind, scope) in KINDS {
            assert_eq!(scope_of(kind), *scope);
            assert!(matches!(*scope, "utilities.readings" | "home.devices"));
        }
    }
}
