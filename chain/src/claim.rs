//! What a page says a ledger entry holds, checked field by field against the entry a proof
//! verified. A valid proof of entry #n says nothing about the row a page shows next to it: a
//! receipt edited in the database (another reader, fewer scopes, another purpose) would keep
//! a green badge if the badge only checked that #n is a valid receipt. The badge therefore
//! vouches for each field it compares here, and names the first one that differs.

use crate::leaf::{Event, GrantId};

/// The fields a page shows for an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// A permission: `grant.issued`.
    Grant {
        grant_id: GrantId,
        scopes: Vec<String>,
        purpose: String,
        /// Unix seconds.
        valid_from: u64,
        valid_until: u64,
    },
    /// A read of the resident's data: `access.receipt`.
    Receipt { grant_id: GrantId, reader: String, scopes: Vec<String>, purpose: String, time: u64 },
    /// A record's erasure (the purge receipt): `records.erased`.
    Erasure { requested_by: String, erased_at: u64, sealed_versions: usize },
}

/// The first field where a claim and an entry disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// Not the kind of entry claimed at all.
    EntryType,
    GrantId,
    Scopes,
    Purpose,
    ValidFrom,
    ValidUntil,
    Reader,
    Time,
    RequestedBy,
    ErasedAt,
    Seals,
}

impl Field {
    /// The field's name as the leaf format calls it (docs/ledger-format.md).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::EntryType => "entry type",
            Self::GrantId => "grant_id",
            Self::Scopes => "scopes",
            Self::Purpose => "purpose",
            Self::ValidFrom => "valid_from",
            Self::ValidUntil => "valid_until",
            Self::Reader => "reader",
            Self::Time => "time",
            Self::RequestedBy => "requested_by",
            Self::ErasedAt => "erased_at",
            Self::Seals => "seals",
        }
    }
}

impl Claim {
    /// `Err(field)` naming the first field of the claim that the entry does not hold. Scopes
    /// are compared as sets (the leaf keeps them sorted; a page may show them in another order).
    ///
    /// # Errors
    /// The first [`Field`] that differs.
    pub fn check(&self, event: &Event) -> Result<(), Field> {
        fn same_scopes(a: &[String], b: &[String]) -> bool {
            let (mut a, mut b) = (a.to_vec(), b.to_vec());
            a.sort();
            a.dedup();
            b.sort();
            b.dedup();
            a == b
        }
        fn first(checks: &[(bool, Field)]) -> Result<(), Field> {
            checks.iter().find(|(same, _)| !same).map_or(Ok(()), |(_, field)| Err(*field))
        }
        match (self, event) {
            (
                Self::Grant { grant_id, scopes, purpose, valid_from, valid_until },
                Event::GrantIssued { grant_id: g, scopes: s, purpose: p, valid_from: f, valid_until: u, .. },
            ) => first(&[
                (grant_id == g, Field::GrantId),
                (same_scopes(scopes, s), Field::Scopes),
                (purpose == p, Field::Purpose),
                (valid_from == f, Field::ValidFrom),
                (valid_until == u, Field::ValidUntil),
            ]),
            (
                Self::Receipt { grant_id, reader, scopes, purpose, time },
                Event::AccessReceipt { grant_id: g, reader: r, scopes: s, purpose: p, time: t, .. },
            ) => first(&[
                (grant_id == g, Field::GrantId),
                (reader == r, Field::Reader),
                (same_scopes(scopes, s), Field::Scopes),
                (purpose == p, Field::Purpose),
                (time == t, Field::Time),
            ]),
            (
                Self::Erasure { requested_by, erased_at, sealed_versions },
                Event::RecordsErased { requested_by: r, erased_at: t, seals },
            ) => first(&[
                (requested_by == r, Field::RequestedBy),
                (erased_at == t, Field::ErasedAt),
                (*sealed_versions == seals.len(), Field::Seals),
            ]),
            _ => Err(Field::EntryType),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> Event {
        Event::AccessReceipt {
            grant_id: GrantId([7; 16]),
            reader: "transit-authority/client/agency-transit".into(),
            scopes: vec!["residence.district".into(), "transit.trips".into()],
            purpose: "Cap fares".into(),
            time: 1_790_000_000,
            verified_at: None,
        }
    }

    fn claimed() -> Claim {
        Claim::Receipt {
            grant_id: GrantId([7; 16]),
            reader: "transit-authority/client/agency-transit".into(),
            scopes: vec!["transit.trips".into(), "residence.district".into()],
            purpose: "Cap fares".into(),
            time: 1_790_000_000,
        }
    }

    #[test]
    fn a_receipt_matches_only_when_every_field_it_shows_is_the_entrys() {
        assert_eq!(claimed().check(&receipt()), Ok(()), "scopes in another order are the same set");
        let edit = |f: fn(&mut Claim)| {
            let mut c = claimed();
            f(&mut c);
            c.check(&receipt())
        };
        assert_eq!(
            edit(|c| if let Claim::Receipt { reader, .. } = c {
                *reader = "someone/else".into()
            }),
            Err(Field::Reader)
        );
        assert_eq!(
            edit(|c| if let Claim::Receipt { scopes, .. } = c {
                scopes.pop();
            }),
            Err(Field::Scopes)
        );
        assert_eq!(
            edit(|c| if let Claim::Receipt { purpose, .. } = c {
                *purpose = "Marketing".into()
            }),
            Err(Field::Purpose)
        );
        assert_eq!(
            edit(|c| if let Claim::Receipt { time, .. } = c {
                *time += 1
            }),
            Err(Field::Time)
        );
        assert_eq!(
            edit(|c| if let Claim::Receipt { grant_id, .. } = c {
                *grant_id = GrantId([8; 16])
            }),
            Err(Field::GrantId)
        );
    }

    #[test]
    fn a_grant_claim_is_checked_against_a_grant_and_nothing_else() {
        let issued = Event::GrantIssued {
            grant_id: GrantId([1; 16]),
            resident: crate::Pseudonym([2; 32]),
            service_version_hash: crate::Hash([3; 32]),
            scopes: vec!["transit.trips".into()],
            purpose: "Cap fares".into(),
            valid_from: 100,
            valid_until: 200,
        };
        let claim = Claim::Grant {
            grant_id: GrantId([1; 16]),
            scopes: vec!["transit.trips".into()],
            purpose: "Cap fares".into(),
            valid_from: 100,
            valid_until: 200,
        };
        assert_eq!(claim.check(&issued), Ok(()));
        let longer = Claim::Grant {
            grant_id: GrantId([1; 16]),
            scopes: vec!["transit.trips".into()],
            purpose: "Cap fares".into(),
            valid_from: 100,
            valid_until: 300,
        };
        assert_eq!(longer.check(&issued), Err(Field::ValidUntil));
        assert_eq!(claim.check(&receipt()), Err(Field::EntryType));
        assert_eq!(claimed().check(&issued), Err(Field::EntryType));
    }

    #[test]
    fn an_erasure_claim_names_who_when_and_how_many_seals() {
        let erased = Event::RecordsErased {
            seals: vec![crate::leaf::SealRef { batch_root: crate::Hash([1; 32]), position: 4 }],
            requested_by: "resident".into(),
            erased_at: 500,
        };
        let claim = |who: &str, at: u64, n: usize| Claim::Erasure {
            requested_by: who.into(),
            erased_at: at,
            sealed_versions: n,
        };
        assert_eq!(claim("resident", 500, 1).check(&erased), Ok(()));
        assert_eq!(claim("operator:x", 500, 1).check(&erased), Err(Field::RequestedBy));
        assert_eq!(claim("resident", 501, 1).check(&erased), Err(Field::ErasedAt));
        assert_eq!(claim("resident", 500, 2).check(&erased), Err(Field::Seals));
        assert_eq!(claim("resident", 500, 1).check(&receipt()), Err(Field::EntryType));
    }
}
