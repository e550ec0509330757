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
const STAFF_DOMAIN: &[u8] = b"onecity.staff.v1";

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

    /// How public receipts name a staff member who read through the console: `staff-` and 16
    /// hex digits of an HMAC of their account under this key. Stable (a resident can tell two
    /// reads by the same person apart from reads by two people), but neither the account id nor
    /// the person's name is in the public log; the operators, who hold the key, can resolve it.
    #[must_use]
    pub fn staff_id(&self, account_id: Uuid) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(STAFF_DOMAIN);
        mac.update(account_id.as_bytes());
        format!("staff-{}", hex::encode(&mac.finalize().into_bytes()[..8]))
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
    fn staff_ids_are_stable_and_never_show_the_account() {
        let key = PseudonymKey::new([7; 32]);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(key.staff_id(a), key.staff_id(a));
        assert_ne!(key.staff_id(a), key.staff_id(b));
        let id = key.staff_id(a);
        assert!(id.starts_with("staff-") && id.len() == 22, "{id}");
        assert!(!id.contains(&a.simple().to_string()[..8]));
    }

    #[test]
    fn the_key_is_not_printed() {
        assert_eq!(format!("{:?}", PseudonymKey::new([0xab; 32])), "PseudonymKey(..)");
    }
}
