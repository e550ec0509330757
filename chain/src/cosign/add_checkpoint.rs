//! C2SP tlog-witness's `add-checkpoint`, both sides: the request the log sends (with its
//! consistency proof), the decision a witness takes, and the reply the log reads back.

use crate::error::{Error, Result};
use crate::hash::Hash;
use crate::note::{NoteSignature, SignedCheckpoint, VerifierKey};

/// Formats a cosignature as the note signature line a witness returns (with newline).
#[must_use]
pub fn format_cosignature_line(sig: &NoteSignature) -> String {
    sig.to_line()
}

/// Parses the body of a witness's `add-checkpoint` response: one or more signature lines.
///
/// # Errors
/// [`Error::BadNote`].
pub fn parse_cosignature_lines(body: &str) -> Result<Vec<NoteSignature>> {
    let body = body.strip_suffix('\n').ok_or_else(|| Error::BadNote("response does not end in a newline".into()))?;
    if body.len() > crate::note::MAX_NOTE_BYTES {
        return Err(Error::BadNote("response too long".into()));
    }
    body.split('\n')
        .take(crate::note::MAX_NOTE_SIGNATURES + 1)
        .enumerate()
        .map(|(i, l)| {
            if i == crate::note::MAX_NOTE_SIGNATURES {
                Err(Error::BadNote("too many signature lines".into()))
            } else {
                NoteSignature::parse_line(l)
            }
        })
        .collect()
}

/// How a witness answered an `add-checkpoint` request (C2SP tlog-witness), as the log's side
/// reads it. Beside the request so the running witness, its tests and the log's quorum
/// client share one reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessReply {
    /// 200: the cosignature lines (add them to the checkpoint with
    /// [`crate::SignedCheckpoint::add_signatures`], then check with a [`WitnessPolicy`]).
    Cosigned(Vec<NoteSignature>),
    /// 409: the witness's latest cosigned size; retry with a proof from that size.
    Conflict {
        /// The size the witness last cosigned.
        latest_size: u64,
    },
    /// Any other status, with the body's first line (for logs only: it is the witness's text).
    Refused {
        /// HTTP status code.
        status: u16,
        /// What the witness said, at most 200 characters.
        message: String,
    },
}

/// Interprets a witness's answer to `add-checkpoint` (status code and body). Build the
/// request body with [`AddCheckpointRequest::to_bytes`].
///
/// # Errors
/// [`Error::BadWitnessReply`] for a body that is not UTF-8 or a 409 whose body is not a size;
/// [`Error::BadNote`] for a 200 whose body is not signature lines.
pub fn parse_witness_reply(status: u16, body: &[u8]) -> Result<WitnessReply> {
    let text = std::str::from_utf8(body).map_err(|_| Error::BadWitnessReply("not UTF-8".into()))?;
    match status {
        200 => Ok(WitnessReply::Cosigned(parse_cosignature_lines(text)?)),
        409 => {
            let n = text.strip_suffix('\n').unwrap_or(text);
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::BadWitnessReply("a 409 body must be the witness's tree size".into()));
            }
            let latest_size = n.parse().map_err(|_| Error::BadWitnessReply("the 409 size overflows".into()))?;
            Ok(WitnessReply::Conflict { latest_size })
        }
        _ => Ok(WitnessReply::Refused {
            status,
            message: text.lines().next().unwrap_or_default().chars().take(200).collect(),
        }),
    }
}

/// The body of a C2SP tlog-witness `add-checkpoint` request: `old <size>`, up to 63 base64
/// consistency proof lines, an empty line, then the signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    /// Size of the previous checkpoint the witness cosigned (0 if none).
    pub old_size: u64,
    /// Consistency proof from `old_size` to the checkpoint's size (empty if `old_size` is 0).
    pub proof: Vec<Hash>,
    /// The checkpoint, with the log's signature.
    pub checkpoint: SignedCheckpoint,
}

/// Most consistency proof lines a request may carry (C2SP tlog-witness).
pub const MAX_PROOF_LINES: usize = 63;

impl AddCheckpointRequest {
    /// Serialises the request body.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!("old {}\n", self.old_size);
        for h in &self.proof {
            s.push_str(&h.to_base64());
            s.push('\n');
        }
        s.push('\n');
        let mut b = s.into_bytes();
        b.extend(self.checkpoint.to_bytes());
        b
    }

    /// Parses a request body.
    ///
    /// # Errors
    /// [`Error::BadAddCheckpoint`] naming the bad part, or the checkpoint's note error.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let bad = |m: &str| Error::BadAddCheckpoint(m.to_owned());
        let mut rest = body;
        let next_line = |rest: &mut &[u8]| -> Result<String> {
            let i = rest.iter().position(|&b| b == b'\n').ok_or_else(|| bad("line without newline"))?;
            let l = std::str::from_utf8(&rest[..i]).map_err(|_| bad("not UTF-8"))?.to_owned();
            *rest = &rest[i + 1..];
            Ok(l)
        };
        let first = next_line(&mut rest)?;
        let n = first.strip_prefix("old ").ok_or_else(|| bad("first line must be `old <size>`"))?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0')) {
            return Err(bad("old size is not a canonical decimal"));
        }
        let old_size: u64 = n.parse().map_err(|_| bad("old size overflows"))?;
        let mut proof = Vec::new();
        loop {
            let l = next_line(&mut rest)?;
            if l.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad("more than 63 consistency proof lines"));
            }
            proof.push(Hash::from_base64(&l).map_err(|_| bad("proof line is not a base64 hash"))?);
        }
        let checkpoint = SignedCheckpoint::parse(rest)?;
        Ok(Self { old_size, proof, checkpoint })
    }
}

/// What a witness must answer to an `add-checkpoint` request (C2SP tlog-witness), given
/// its latest cosigned `(size, root)` for this log (`None` if it never cosigned one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddCheckpointDecision {
    /// All checks passed: cosign, persist the new state atomically, answer 200.
    Cosign,
    /// 404: the origin is not a configured log.
    UnknownOrigin,
    /// 403: no valid signature from a trusted log key, or a line from a trusted key that
    /// fails to verify.
    Forbidden(String),
    /// 400: old size above the checkpoint size.
    BadRequest(String),
    /// 409 with `text/x.tlog.size` body `<latest_size>\n`: the old size is not the size of
    /// the latest checkpoint the witness cosigned.
    Conflict {
        /// Size of the latest checkpoint the witness cosigned.
        latest_size: u64,
    },
    /// 422: a size-zero checkpoint without the empty root, a non-empty proof from size zero,
    /// a consistency proof that does not verify, or the same size with a different root
    /// hash (a fork).
    Unprocessable(String),
}

/// The witness's checks for `add-checkpoint` (C2SP tlog-witness), in the spec's order, for
/// a log with one trusted key. See [`decide_add_checkpoint_with_keys`].
#[must_use]
pub fn decide_add_checkpoint(
    req: &AddCheckpointRequest,
    log_key: &VerifierKey,
    latest: Option<(u64, Hash)>,
) -> AddCheckpointDecision {
    decide_add_checkpoint_with_keys(req, std::slice::from_ref(log_key), latest)
}

/// The witness's checks for `add-checkpoint` (C2SP tlog-witness §"add-checkpoint"), in the
/// spec's order, given the keys the witness trusts for the checkpoint's origin (keys whose
/// name is not the origin are ignored; none left means the origin is unknown) and its
/// latest cosigned `(size, root)` for that origin (`None` if it never cosigned one):
///
/// 1. unknown origin → 404;
/// 2. no valid signature from a trusted key, or a trusted key's line fails to verify → 403
///    (lines from unknown keys are ignored);
/// 3. old size above the checkpoint size → 400;
/// 4. old size is not the latest cosigned size (0 if none) → 409;
/// 5. a size-zero checkpoint whose root is not the empty tree's hash → 422;
/// 6. a non-empty proof when the old size is zero, or a consistency proof that does not
///    verify → 422;
/// 7. old size equal to the checkpoint size but a different root hash → 422.
///
/// A rollback is refused by 3 or 4, a fork by 6 or 7.
#[must_use]
pub fn decide_add_checkpoint_with_keys(
    req: &AddCheckpointRequest,
    trusted: &[VerifierKey],
    latest: Option<(u64, Hash)>,
) -> AddCheckpointDecision {
    let cp = &req.checkpoint.checkpoint;
    let keys: Vec<&VerifierKey> = trusted.iter().filter(|k| k.name == cp.origin).collect();
    if keys.is_empty() {
        return AddCheckpointDecision::UnknownOrigin;
    }
    let mut verified = false;
    let mut last_err = None;
    for k in keys {
        match req.checkpoint.verify_log_signature(k) {
            Ok(()) => verified = true,
            Err(e @ Error::MissingLogSignature(_)) => last_err = Some(e),
            Err(e) => return AddCheckpointDecision::Forbidden(e.to_string()),
        }
    }
    if !verified {
        return AddCheckpointDecision::Forbidden(
            last_err.map_or_else(|| "no trusted log signature".to_owned(), |e| e.to_string()),
        );
    }
    if req.old_size > cp.size {
        return AddCheckpointDecision::BadRequest(format!(
            "old size {} is above checkpoint size {}",
            req.old_size, cp.size
        ));
    }
    let (latest_size, latest_root) = latest.unwrap_or((0, crate::tree::EMPTY_ROOT));
    if req.old_size != latest_size {
        return AddCheckpointDecision::Conflict { latest_size };
    }
    if cp.size == 0 && cp.root != crate::tree::EMPTY_ROOT {
        return AddCheckpointDecision::Unprocessable(
            "a checkpoint of size zero must have the empty tree's root".into(),
        );
    }
    if req.old_size == 0 && !req.proof.is_empty() {
        return AddCheckpointDecision::Unprocessable("the consistency proof from size zero must be empty".into());
    }
    if req.old_size == cp.size && latest_root != cp.root {
        return AddCheckpointDecision::Unprocessable(format!(
            "checkpoint of size {} has a different root hash than the one cosigned (fork)",
            cp.size
        ));
    }
    match crate::tree::verify_consistency(&req.proof, req.old_size, &latest_root, cp.size, &cp.root) {
        Ok(()) => AddCheckpointDecision::Cosign,
        Err(e) => AddCheckpointDecision::Unprocessable(e.to_string()),
    }
}
