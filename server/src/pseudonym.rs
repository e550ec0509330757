//! Pairwise pseudonyms: what an agency sees instead of a resident's account.
//!
//! `pseudonym = HMAC-SHA256(key, "onecity.pseudonym.v1" || resident_id || service_id)` with a
//! 32-byte server secret (`--pseudonym-key-file`). The same resident has unrelated pseudonyms
//! at two services, so two agencies cannot join their data on it, and without the key nobody
//! can link a pseudonym back to a resident or to another pseudonym. The gate recomputes the
//! pseudonym from the grant row's resident on every read, so moving a grant to another
//! resident behind the server's back no longer matches its cosigned leaf.
//!
//! Losing the key makes every pseudonym unrecomputable (all grants then fail the gate with
//! `integrity`): back it up with the log key. Rotating it means re-issuing every grant.

use std::path::Path;

use chain::Pseudonym;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use uuid::Uuid;

const DOMAIN: &[u8] = b"onecity.pseudonym.v1";

/// The server secret pseudonyms are derived with. Never logged (no `Debug` of the bytes).
#[derive(Clone)]
pub struct PseudonymKey([u8; 32]);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(..)")
    }
}

impl PseudonymKey {
    #[must_use]
    pub fn new(secret: [u8; 32]) -> Self {
        Self(secret)
    }

    /// Reads the key file, creating it (mode 0600) when missing.
    ///
    /// # Errors
    /// An unreadable or malformed file; the message names the path, never the content.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        crate::keyfile::load_or_create_seed(path).map(Self)
    }

    /// The resident's pseudonym at this service.
    #[must_use]
    pub fn pseudonym(&self, resident_id: Uuid, service_id: Uuid) -> Pseudonym {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(DOMAIN);
        mac.update(resident_id.as_bytes());
        mac.update(service_id.as_bytes());
        Pseudonym(mac.finalize().into_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_per_service_and_unlinkable_across_services_and_keys() {
        let key = PseudonymKey::new([7; 32]);
        let (resident, transit, health) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(key.pseudonym(resident, transit), key.pseudonym(resident, transit));
        assert_ne!(key.pseudonym(resident, transit), key.pseudonym(resident, health));
        assert_ne!(key.pseudonym(resident, transit), key.pseudonym(Uuid::new_v4(), transit));
        assert_ne!(key.pseudonym(resident, transit), PseudonymKey::new([8; 32]).pseudonym(resident, transit));
        // Neither id appears in the pseudonym.
        let p = key.pseudonym(resident, transit).to_hex();
        assert!(!p.contains(&resident.simple().to_string()) && !p.contains(&transit.simple().to_string()));
    }

    #[test]
    fn the_key_is_not_printed() {
        assert_eq!(format!("{:?}", PseudonymKey::new([0xab; 32])), "PseudonymKey(..)");
    }
}
