-- Sealed device readings (docs/ledger-format.md §8.5, docs/devices.md): every accepted
-- reading's commitment is queued in the statement that stores it; the sealer commits queued
-- readings in batches, one `records.batch` entry each, sharing `record_batch` with the
-- confirmation records (which batches hold which is `record_batch.contents`).

alter table record_batch
    add column contents text not null default 'records' check (contents in ('records', 'readings'));

-- Waiting to be sealed. No index: ingestion only appends and the sealer takes rows in heap
-- order, so a reading costs ingestion one unindexed row.
create table reading_seal_queue
(
    device_id   uuid        not null,
    counter     bigint      not null,
    measured_at timestamptz not null,
    commitment  bytea       not null check (length(commitment) = 32),
    queued_at   timestamptz not null default now()
);

-- Where each sealed reading is. `measured_at` finds the reading itself (the behavioral
-- record is indexed by resident, scope and time).
create table sealed_reading
(
    device_id       uuid        not null references device (device_id),
    counter         bigint      not null,
    measured_at     timestamptz not null,
    record_batch_id bigint      not null references record_batch (record_batch_id),
    batch_position  integer     not null check (batch_position >= 0),
    primary key (device_id, counter),
    unique (record_batch_id, batch_position)
);

create trigger sealed_reading_append_only
    before update or delete on sealed_reading
    for each row execute function refuse_change();
