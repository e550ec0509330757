//! Why the gate refused: the reasons agencies branch on, and the gate's error type.

use serde::Serialize;

/// Why the gate refused. Part of the API: agencies branch on these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// No grant from this pseudonym for this service.
    NoGrant,
    /// The grant is not yet in a quorum-cosigned checkpoint.
    Pending,
    /// The grant's window has ended.
    Expired,
    /// The resident revoked the grant (or replaced it by a narrower or extended one).
    Revoked,
    /// A requested scope is not in the grant.
    ScopeNotGranted,
    /// The access mode allows no more reads now (one-off used, or the daily limit reached).
    FrequencyExceeded,
    /// The service is for some districts and the resident lives in none of them.
    OutsideDistricts,
    /// The stored grant does not match the cosigned ledger; an integrity alarm was raised.
    Integrity,
}

impl DenyReason {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoGrant => "no_grant",
            Self::Pending => "pending",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::ScopeNotGranted => "scope_not_granted",
            Self::FrequencyExceeded => "frequency_exceeded",
            Self::OutsideDistricts => "outside_districts",
            Self::Integrity => "integrity",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("{message}")]
    Denied { reason: DenyReason, message: String },
    #[error("{field}: {problem}")]
    Invalid { field: &'static str, problem: String },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for GateError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl From<std::num::TryFromIntError> for GateError {
    fn from(e: std::num::TryFromIntError) -> Self {
        Self::Internal(e.into())
    }
}

pub(crate) fn deny(reason: DenyReason, message: impl Into<String>) -> GateError {
    GateError::Denied { reason, message: message.into() }
}
