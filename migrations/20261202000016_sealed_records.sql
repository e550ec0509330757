-- Sealed confirmation records (docs/ledger-format.md §9, docs/records.md): every version of
-- a confirmation record gets a random salt; a background job commits new versions in
-- batches, one `records.batch` ledger entry per batch; amending a record adds a version and
-- keeps the old one (and its seal); erasing a record deletes every version's content and
-- salt and leaves a purge receipt (`records.erased`).

-- A sealed batch: the ledger entry carrying its root, and the batch's Merkle tree as the
-- stored hashes in tlog order (32 bytes each, about two per record), from which a record's
-- path is read without loading the whole tree. Stored uncompressed out of line so that
-- `substring` fetches only the chunks a path needs.
create table record_batch
(
    record_batch_id bigint generated always as identity primary key,
    ledger_entry_id bigint      not null unique references ledger_entry (ledger_entry_id),
    batch_root      bytea       not null unique check (length(batch_root) = 32),
    record_count    integer     not null check (record_count > 0),
    period_start    timestamptz not null,
    period_end      timestamptz not null check (period_end > period_start),
    tree            bytea       not null check (length(tree) > 0 and length(tree) % 32 = 0),
    created_at      timestamptz not null default now()
);
alter table record_batch alter column tree set storage external;

create trigger record_batch_append_only
    before update or delete on record_batch
    for each row execute function refuse_change();
create trigger record_batch_no_truncate
    before truncate on record_batch
    for each statement execute function refuse_change();

-- Versions. A record's id stays; each amendment inserts version n+1 and marks version n
-- superseded. The default salt is 32 bytes from PostgreSQL's strong random source (two
-- version-4 UUIDs: 244 random bits), so every insert path, bulk COPY included, gets one.
alter table confirmation_record
    add column version        integer not null default 1 check (version >= 1),
    add column salt           bytea   not null
        default (uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())) check (length(salt) = 32),
    add column superseded_at  timestamptz,
    add column record_batch_id bigint references record_batch (record_batch_id),
    add column batch_position integer check (batch_position >= 0),
    add constraint confirmation_record_sealed_whole check ((record_batch_id is null) = (batch_position is null)),
    add constraint confirmation_record_batch_position_key unique (record_batch_id, batch_position),
    add constraint confirmation_record_after_epoch check (recorded_at >= '1970-01-01T00:00:00Z');
alter table confirmation_record
    drop constraint confirmation_record_pkey,
    add primary key (confirmation_record_id, version);
drop index confirmation_record_resident_scope_idx;
-- What the gate and the portal read: the current version of each record.
create index confirmation_record_current_idx on confirmation_record (resident_id, scope_key, recorded_at desc)
    where superseded_at is null;
-- The sealer's queue, in the exact order it seals (so a batch is the index's first rows,
-- never a sort of everything pending: a bulk load records thousands in the same microsecond).
create index confirmation_record_pending_idx on confirmation_record (recorded_at, confirmation_record_id, version)
    where record_batch_id is null;

-- Sealing sets a version's batch and position, nothing a resident's page shows: an update of
-- those columns alone must not move the resident's data version (which would also cost one
-- resident row update per record sealed). The residents whose rows changed otherwise are the
-- symmetric difference of the statement's old and new rows over every other column, the
-- content by its hash (every write of the portal sets both; a content edited without its hash
-- is refused on read anyway, docs/gate.md).
create function bump_resident_data_version_on_record_update() returns trigger
    language plpgsql as
$$
begin
    update resident set data_version = data_version + 1
    where resident_id in (
        select resident_id from (
            (select confirmation_record_id, version, resident_id, scope_key, content_hash, recorded_at,
                    superseded_at, salt from new_rows
             except
             select confirmation_record_id, version, resident_id, scope_key, content_hash, recorded_at,
                    superseded_at, salt from old_rows)
            union all
            (select confirmation_record_id, version, resident_id, scope_key, content_hash, recorded_at,
                    superseded_at, salt from old_rows
             except
             select confirmation_record_id, version, resident_id, scope_key, content_hash, recorded_at,
                    superseded_at, salt from new_rows)
        ) as changed);
    return null;
end
$$;
drop trigger confirmation_record_version_update on confirmation_record;
create trigger confirmation_record_version_update
    after update on confirmation_record referencing old table as old_rows new table as new_rows
    for each statement execute function bump_resident_data_version_on_record_update();

-- Erased records: what the resident's page and the operator see after the content is gone.
-- The purge receipt itself is the `records.erased` ledger entry.
create table record_erasure
(
    confirmation_record_id uuid primary key,
    resident_id            uuid        not null references resident (resident_id) on delete cascade,
    scope_key              text        not null references scope (scope_key),
    versions               integer     not null check (versions >= 1),
    sealed_versions        integer     not null check (sealed_versions between 0 and versions),
    requested_by           text        not null check (requested_by = 'resident' or requested_by ~ '^operator:.{1,200}$'),
    ledger_entry_id        bigint      not null unique references ledger_entry (ledger_entry_id),
    erased_at              timestamptz not null default now()
);
create index record_erasure_resident_idx on record_erasure (resident_id, erased_at desc);

-- Record proofs prefer the newest anchored checkpoint that covers their batch.
create index ledger_anchor_tree_size_idx on ledger_anchor (tree_size desc);
