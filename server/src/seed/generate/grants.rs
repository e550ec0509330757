//! Which services the synthetic residents granted, and when.

use super::{CitySeed, Persona, Vocabulary, identity_stream, midnight};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A service as the grant generator sees it.
#[derive(Clone, Debug)]
pub struct OfferedService {
    pub service_id: Uuid,
    pub slug: String,
    /// Every published version, oldest first.
    pub versions: Vec<OfferedVersion>,
}

/// A published version of a service: what its grants' leaves commit to.
#[derive(Clone, Debug)]
pub struct OfferedVersion {
    pub version: i32,
    pub leaf_hash: Vec<u8>,
    pub purpose: String,
    pub required: Vec<String>,
    pub optional: Vec<String>,
}

/// A grant the generator decided on.
#[derive(Clone, Debug)]
pub struct SeedGrant {
    pub grant_id: Uuid,
    pub resident_id: Uuid,
    pub service: usize,
    pub version: usize,
    pub scopes: Vec<String>,
    pub valid_from: OffsetDateTime,
    pub valid_until: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

/// Whether a resident has what a service requires (a senior clinic asks only seniors, a
/// benefit only those under the threshold, ...).
pub(super) fn fits(p: &Persona, required: &[String]) -> bool {
    required.iter().all(|s| match s.as_str() {
        "identity.age_over_65" => p.over_65,
        "income.below_benefit_threshold" => p.below_threshold,
        "property.titles" => p.owns_property,
        "telecom.call_records" => p.has_calls,
        _ => true,
    })
}

/// The resident's grants: about a third of residents granted one to three services; most
/// grants are active, some expired, some revoked. Times are whole seconds (as in the leaf).
pub fn grants(city: &CitySeed, vocab: &Vocabulary, services: &[OfferedService], p: &Persona, out: &mut Vec<SeedGrant>) {
    let mut dice = city.dice(identity_stream(p.index) | 3);
    if services.is_empty() || !dice.percent(35) {
        return;
    }
    let mut eligible: Vec<usize> =
        (0..services.len()).filter(|&s| services[s].versions.last().is_some_and(|v| fits(p, &v.required))).collect();
    let wanted = dice.between(1, 3) as usize;
    let anchor = midnight(vocab.until);
    for _ in 0..wanted.min(eligible.len()) {
        let s = eligible.swap_remove(dice.below(eligible.len() as u64) as usize);
        let versions = &services[s].versions;
        // Older versions keep some of their grants (a grant never moves to a new version).
        let version = if versions.len() > 1 && dice.percent(30) {
            dice.below(versions.len() as u64 - 1) as usize
        } else {
            versions.len() - 1
        };
        let mut scopes: Vec<String> = versions[version].required.clone();
        scopes.extend(versions[version].optional.iter().filter(|_| dice.percent(50)).cloned());
        let scopes = chain::leaf::canonical_scopes(scopes);
        let valid_from = anchor - Duration::seconds(dice.between(86_400, 300 * 86_400));
        let lasted = (anchor - valid_from).whole_seconds();
        let (valid_until, revoked_at) = match dice.below(100) {
            // Expired before the city's `until` day.
            0..=6 => (valid_from + Duration::seconds(dice.between(3_600, lasted - 1)), None),
            // Revoked by the resident.
            7..=14 => (
                anchor + Duration::days(dice.between(30, 365)),
                Some(valid_from + Duration::seconds(dice.between(1, lasted - 1))),
            ),
            _ => (anchor + Duration::days(dice.between(30, 365)), None),
        };
        out.push(SeedGrant {
            grant_id: dice.uuid(),
            resident_id: p.resident_id,
            service: s,
            version,
            scopes,
            valid_from,
            valid_until,
            revoked_at,
        });
    }
}
