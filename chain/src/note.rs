//! C2SP signed-note and C2SP tlog-checkpoint.
//!
//! * Notes are parsed and validated with `signed_note` (UTF-8, no control characters, text
//!   separated from signature lines by the last blank line). `signed_note::Note` does not
//!   expose its signature lines, so they are split out here and parsed one by one with
//!   `signed_note::Signature`.
//! * Key ids: `SHA-256(name || 0x0A || type || public key)[:4]`, big-endian (C2SP
//!   signed-note §"Signatures").
//! * Verifier keys (`vkey`): `<name>+<key id as 8 hex digits>+<base64(type || public key)>`
//!   (C2SP signed-note §"Verifier keys").
//! * Checkpoint body (C2SP tlog-checkpoint §"Note text"): origin line, decimal tree size,
//!   base64 root hash, then optional extension lines.

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::hash::Hash;

/// Signature type byte of plain Ed25519 note signatures (C2SP signed-note).
pub const SIG_TYPE_ED25519: u8 = 0x01;
/// Signature type byte of timestamped Ed25519 `cosignature/v1` (C2SP tlog-cosignature).
pub const SIG_TYPE_COSIGNATURE_V1: u8 = 0x04;
/// Signature type byte of ML-DSA-44 cosignatures (C2SP tlog-cosignature; not implemented).
pub const SIG_TYPE_ML_DSA_44: u8 = 0x06;

/// Largest note this crate will parse (bytes); signed_note's own limit is 1,000,000.
pub const MAX_NOTE_BYTES: usize = 65_536;
/// Most signature lines this crate will parse in one note (C2SP requires accepting 16).
pub const MAX_NOTE_SIGNATURES: usize = 64;

/// Key id per C2SP signed-note: `SHA-256(name || "\n" || sig_type || public_key)[:4]`.
#[must_use]
pub fn key_id(name: &str, sig_type: u8, public_key: &[u8]) -> u32 {
    let mut k = Vec::with_capacity(1 + public_key.len());
    k.push(sig_type);
    k.extend_from_slice(public_key);
    signed_note::key_id(name, &k)
}

/// Whether `name` is a valid key name (non-empty, no Unicode space, no `+`).
#[must_use]
pub fn is_valid_key_name(name: &str) -> bool {
    signed_note::is_key_name_valid(name)
}

/// A public verifier key as carried in a `vkey` string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerifierKey {
    /// Key name, e.g. `ledger.onecity.example`.
    pub name: String,
    /// Signature type byte (0x01 note signer, 0x04 cosigner, ...).
    pub sig_type: u8,
    /// Public key material (32 bytes for the Ed25519 types).
    pub public_key: Vec<u8>,
}

impl VerifierKey {
    /// Builds a key, checking the name and, for Ed25519 types, the key length.
    ///
    /// # Errors
    /// [`Error::BadKeyName`], [`Error::BadVerifierKey`].
    pub fn new(name: &str, sig_type: u8, public_key: Vec<u8>) -> Result<Self> {
        if !is_valid_key_name(name) {
            return Err(Error::BadKeyName(name.chars().take(100).collect()));
        }
        if matches!(sig_type, SIG_TYPE_ED25519 | SIG_TYPE_COSIGNATURE_V1) && public_key.len() != 32 {
            return Err(Error::BadVerifierKey(format!(
                "Ed25519 public key must be 32 bytes, got {}",
                public_key.len()
            )));
        }
        Ok(Self { name: name.to_owned(), sig_type, public_key })
    }

    /// This key's id.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        key_id(&self.name, self.sig_type, &self.public_key)
    }

    /// Parses `<name>+<hex id>+<base64(type||key)>`, checking that the id matches.
    ///
    /// # Errors
    /// [`Error::BadVerifierKey`] saying which part is wrong.
    pub fn parse(vkey: &str) -> Result<Self> {
        // The base64 key material may itself contain '+': split at the first two only.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(b64), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(Error::BadVerifierKey("expected <name>+<id>+<key>".into()));
        };
        if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return Err(Error::BadVerifierKey("key id must be 8 lower-case hex digits".into()));
        }
        let id = u32::from_str_radix(id, 16).map_err(|_| Error::BadVerifierKey("key id is not hex".into()))?;
        let raw =
            BASE64_STANDARD.decode(b64).map_err(|_| Error::BadVerifierKey("key material is not base64".into()))?;
        let Some((&sig_type, key)) = raw.split_first() else {
            return Err(Error::BadVerifierKey("key material is empty".into()));
        };
        let k = Self::new(name, sig_type, key.to_vec())?;
        if k.key_id() != id {
            return Err(Error::BadVerifierKey(format!("key id {id:08x} does not match the key ({:08x})", k.key_id())));
        }
        Ok(k)
    }

    /// Ed25519 public key, when this is an Ed25519-based type.
    pub(crate) fn ed25519(&self) -> Result<VerifyingKey> {
        let b: [u8; 32] = self
            .public_key
            .as_slice()
            .try_into()
            .map_err(|_| Error::BadVerifierKey("Ed25519 key must be 32 bytes".into()))?;
        VerifyingKey::from_bytes(&b).map_err(|_| Error::BadVerifierKey("not a valid Ed25519 point".into()))
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = vec![self.sig_type];
        raw.extend_from_slice(&self.public_key);
        write!(f, "{}+{:08x}+{}", self.name, self.key_id(), BASE64_STANDARD.encode(raw))
    }
}

/// One signature line of a note: `— <name> base64(key id || signature)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key id (first four bytes of the decoded base64).
    pub key_id: u32,
    /// Signature bytes after the key id.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// Parses one line, without its trailing newline.
    ///
    /// # Errors
    /// [`Error::BadNote`].
    pub fn parse_line(line: &str) -> Result<Self> {
        let s = signed_note::Signature::from_bytes(line.as_bytes()).map_err(|_| {
            Error::BadNote(format!("bad signature line {:?}", line.chars().take(120).collect::<String>()))
        })?;
        Ok(Self { name: s.name().to_owned(), key_id: s.id(), signature: s.signature().to_vec() })
    }

    /// Formats the line, including the trailing newline.
    #[must_use]
    pub fn to_line(&self) -> String {
        let mut raw = self.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.signature);
        format!("— {} {}\n", self.name, BASE64_STANDARD.encode(raw))
    }
}

/// A parsed signed note: its text (with final newline) and signature lines in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    /// Note text including the final newline, excluding the blank separator line.
    pub text: String,
    /// Signature lines, as they appear.
    pub signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// Parses a signed note (C2SP signed-note §"Format").
    ///
    /// # Errors
    /// [`Error::BadNote`] saying what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(Error::BadNote(format!("note of {} bytes exceeds {MAX_NOTE_BYTES}", bytes.len())));
        }
        let note = signed_note::Note::from_bytes(bytes)
            .map_err(|e| Error::BadNote(format!("not a valid signed note ({e})")))?;
        let s = std::str::from_utf8(bytes).map_err(|_| Error::BadNote("not UTF-8".into()))?;
        let text = std::str::from_utf8(note.text()).map_err(|_| Error::BadNote("not UTF-8".into()))?;
        let sig_block = &s[text.len() + 1..];
        let sig_block = sig_block.strip_suffix('\n').ok_or_else(|| Error::BadNote("no final newline".into()))?;
        let mut signatures = Vec::new();
        for line in sig_block.split('\n') {
            if signatures.len() == MAX_NOTE_SIGNATURES {
                return Err(Error::BadNote(format!("more than {MAX_NOTE_SIGNATURES} signatures")));
            }
            signatures.push(NoteSignature::parse_line(line)?);
        }
        Ok(Self { text: text.to_owned(), signatures })
    }

    /// Serialises: text, blank line, signature lines.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = self.text.clone();
        s.push('\n');
        for sig in &self.signatures {
            s.push_str(&sig.to_line());
        }
        s.into_bytes()
    }
}

/// A note signer: the log's Ed25519 key (signature type 0x01).
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NoteSigner({})", self.name)
    }
}

impl NoteSigner {
    /// Derives the Ed25519 key from a caller-provided 32-byte secret seed (RFC 8032).
    ///
    /// # Errors
    /// [`Error::BadKeyName`].
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self> {
        if !is_valid_key_name(name) {
            return Err(Error::BadKeyName(name.to_owned()));
        }
        Ok(Self { name: name.to_owned(), key: SigningKey::from_bytes(seed) })
    }

    /// Key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key to publish.
    #[must_use]
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            sig_type: SIG_TYPE_ED25519,
            public_key: self.key.verifying_key().to_bytes().to_vec(),
        }
    }

    /// Signs note text (which must end in a newline).
    #[must_use]
    pub fn sign(&self, text: &str) -> NoteSignature {
        NoteSignature {
            name: self.name.clone(),
            key_id: self.verifier_key().key_id(),
            signature: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        }
    }
}

/// Verifies one Ed25519 (type 0x01) note signature over `text`.
pub(crate) fn verify_ed25519(key: &VerifyingKey, msg: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
        return false;
    };
    key.verify_strict(msg, &sig).is_ok()
}

/// A checkpoint body (C2SP tlog-checkpoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Origin line: the log's unique name.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// Extension lines (without newlines). Cosigners make no statement about them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    #[must_use]
    pub fn new(origin: &str, size: u64, root: Hash) -> Self {
        Self { origin: origin.to_owned(), size, root, extensions: Vec::new() }
    }

    /// The note text: `origin\nsize\nbase64(root)\n` plus extension lines.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64());
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// The first three lines, the part cosigners vouch for.
    #[must_use]
    pub fn head_text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64())
    }

    /// Parses a note text as a checkpoint, strictly (decimal size without leading zeros,
    /// 32-byte base64 root, no empty extension lines), via `tlog_tiles::Checkpoint`.
    ///
    /// # Errors
    /// [`Error::BadCheckpoint`].
    pub fn parse(text: &str) -> Result<Self> {
        let c = tlog_tiles::Checkpoint::from_bytes(text.as_bytes())
            .map_err(|_| Error::BadCheckpoint("expected origin, decimal size, base64 root hash lines".into()))?;
        if c.origin().chars().any(|ch| ch.is_control()) {
            return Err(Error::BadCheckpoint("control character in origin".into()));
        }
        let cp = Self {
            origin: c.origin().to_owned(),
            size: c.size(),
            root: Hash::from_tlog(*c.hash()),
            extensions: c.extension().lines().map(str::to_owned).collect(),
        };
        if cp.to_text() != text {
            return Err(Error::BadCheckpoint("text is not in canonical form".into()));
        }
        Ok(cp)
    }
}

/// A checkpoint inside a signed note, with all its signature lines (log and cosigners).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The parsed body.
    pub checkpoint: Checkpoint,
    /// The note (text = `checkpoint.to_text()`).
    pub note: SignedNote,
}

impl SignedCheckpoint {
    /// Signs `checkpoint` with the log key.
    #[must_use]
    pub fn sign(checkpoint: Checkpoint, log: &NoteSigner) -> Self {
        let text = checkpoint.to_text();
        let sig = log.sign(&text);
        Self { checkpoint, note: SignedNote { text, signatures: vec![sig] } }
    }

    /// Parses a signed checkpoint note.
    ///
    /// # Errors
    /// [`Error::BadNote`], [`Error::BadCheckpoint`].
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let note = SignedNote::parse(bytes)?;
        let checkpoint = Checkpoint::parse(&note.text)?;
        Ok(Self { checkpoint, note })
    }

    /// Serialised note.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.note.to_bytes()
    }

    /// Appends signature lines (e.g. cosignatures returned by a witness), replacing any
    /// existing line with the same name and key id.
    pub fn add_signatures(&mut self, sigs: impl IntoIterator<Item = NoteSignature>) {
        for s in sigs {
            self.note.signatures.retain(|o| !(o.name == s.name && o.key_id == s.key_id));
            self.note.signatures.push(s);
        }
    }

    /// Verifies the log's signature (C2SP signed-note: lines from other keys are ignored; a
    /// bad line from the log key fails) and that the origin is the log key's name.
    ///
    /// # Errors
    /// [`Error::WrongOrigin`], [`Error::MissingLogSignature`], [`Error::BadLogSignature`],
    /// [`Error::UnsupportedSignatureType`].
    pub fn verify_log_signature(&self, log_key: &VerifierKey) -> Result<()> {
        if log_key.sig_type != SIG_TYPE_ED25519 {
            return Err(Error::UnsupportedSignatureType(log_key.sig_type));
        }
        self.verify_log_signature_with(log_key, &log_key.ed25519()?)
    }

    /// [`Self::verify_log_signature`] with the Ed25519 key already decoded (policies cache it).
    pub(crate) fn verify_log_signature_with(&self, log_key: &VerifierKey, vk: &VerifyingKey) -> Result<()> {
        if self.checkpoint.origin != log_key.name {
            return Err(Error::WrongOrigin { expected: log_key.name.clone(), found: self.checkpoint.origin.clone() });
        }
        let id = log_key.key_id();
        let mut found = false;
        for s in self.note.signatures.iter().filter(|s| s.name == log_key.name && s.key_id == id) {
            if !verify_ed25519(vk, self.note.text.as_bytes(), &s.signature) {
                return Err(Error::BadLogSignature(log_key.name.clone()));
            }
            found = true;
        }
        if found { Ok(()) } else { Err(Error::MissingLogSignature(log_key.name.clone())) }
    }
}
