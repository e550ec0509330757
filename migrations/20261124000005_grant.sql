-- Residents' data, their grants to services, and the receipts of every read through the gate
-- (docs/gate.md).

-- Identity facts the city holds about a resident, from which predicates are computed on read
-- (`identity.age_over_65`, `income.below_benefit_threshold`). Never released as such to an
-- agency: only the derived yes/no leaves the gate.
create table civil_record
(
    resident_id         uuid primary key references resident (resident_id) on delete cascade,
    birth_date          date        not null,
    annual_income_cents bigint check (annual_income_cents >= 0),
    recorded_at         timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);
select trigger_updated_at('civil_record');

-- Confirmation records (property titles, bank accounts, call records): medium volume, each
-- with the SHA-256 of its canonical JSON so an agency can check what it was given.
create table confirmation_record
(
    confirmation_record_id uuid primary key     default gen_random_uuid(),
    resident_id            uuid        not null references resident (resident_id) on delete cascade,
    scope_key              text        not null references scope (scope_key),
    data                   jsonb       not null check (jsonb_typeof(data) = 'object'),
    content_hash           bytea       not null check (length(content_hash) = 32),
    recorded_at            timestamptz not null default now()
);
create index confirmation_record_resident_scope_idx on confirmation_record (resident_id, scope_key, recorded_at desc);

-- Behavioral records (trips, receipts, meter readings, service logs): large volume, so
-- partitioned by month and indexed per resident. New months are added by
-- `behavioral_record_partition(month)`; anything outside lands in the default partition.
create table behavioral_record
(
    resident_id uuid        not null references resident (resident_id) on delete cascade,
    scope_key   text        not null references scope (scope_key),
    occurred_at timestamptz not null,
    data        jsonb       not null check (jsonb_typeof(data) = 'object')
) partition by range (occurred_at);
create index behavioral_record_resident_scope_idx on behavioral_record (resident_id, scope_key, occurred_at desc);
create table behavioral_record_default partition of behavioral_record default;

create function behavioral_record_partition(month date) returns void as
$$
declare
    first date := date_trunc('month', month)::date;
    name  text := format('behavioral_record_%s', to_char(first, 'YYYY_MM'));
begin
    execute format('create table if not exists %I partition of behavioral_record for values from (%L) to (%L)',
                   name, first, (first + interval '1 month')::date);
end;
$$ language plpgsql;

select behavioral_record_partition(m::date)
from generate_series('2025-01-01'::date, '2027-12-01'::date, interval '1 month') as m;

-- A resident's grant of scopes to one version of a service. The row mirrors a grant.issued
-- ledger entry (issued_entry_id) field for field; the gate recomputes that leaf from this row
-- and the service version on every read, so an edit behind the server's back is caught.
-- Narrowing or extending issues a new grant that `replaces` the old one, which is revoked in
-- the same transaction: the ledger has no "update", only issue and revoke.
create table data_grant
(
    data_grant_id   uuid primary key,
    resident_id     uuid        not null references resident (resident_id),
    service_id      uuid        not null,
    version         integer     not null,
    -- The resident's pairwise pseudonym for this service (HMAC of resident and service under
    -- the server's pseudonym key): all an agency ever learns of who granted.
    pseudonym       bytea       not null check (length(pseudonym) = 32),
    -- Canonical: sorted, no duplicates (as in the leaf).
    scopes          text[]      not null check (cardinality(scopes) > 0),
    valid_from      timestamptz not null,
    valid_until     timestamptz not null,
    issued_entry_id bigint      not null references ledger_entry (ledger_entry_id),
    replaces        uuid references data_grant (data_grant_id),
    created_at      timestamptz not null default now(),
    foreign key (service_id, version) references service_version (service_id, version),
    constraint data_grant_window check (valid_until > valid_from)
);
create index data_grant_resident_idx on data_grant (resident_id, created_at desc);
create index data_grant_service_pseudonym_idx on data_grant (service_id, pseudonym, created_at desc);

-- Revocations, one per revoked grant, each with its grant.revoked ledger entry. A grant with a
-- row here is denied at once, before the revocation is cosigned ("deny wins").
create table grant_revocation
(
    data_grant_id    uuid primary key references data_grant (data_grant_id),
    revoked_at       timestamptz not null,
    -- revoked: by the resident; replaced: by a narrowed or extended grant.
    reason           text        not null check (reason in ('revoked', 'replaced')),
    ledger_entry_id  bigint      not null references ledger_entry (ledger_entry_id)
);

-- Every read of a resident's data through the gate. Written, with its access.receipt ledger
-- entry, in the transaction that ran the query and committed before the data is returned.
create table access_receipt
(
    access_receipt_id uuid primary key     default gen_random_uuid(),
    data_grant_id     uuid        not null references data_grant (data_grant_id),
    resident_id       uuid        not null references resident (resident_id),
    service_id        uuid        not null references service (service_id),
    -- agency/kind/id, e.g. `transit-authority/client/agency-transit`.
    reader            text        not null,
    scopes            text[]      not null,
    purpose           text        not null,
    read_at           timestamptz not null,
    ledger_entry_id   bigint      not null references ledger_entry (ledger_entry_id)
);
create index access_receipt_resident_idx on access_receipt (resident_id, read_at desc);
create index access_receipt_grant_idx on access_receipt (data_grant_id, read_at desc);
