-- What the gate verified just before a read, kept with the receipt: per grant and quorum
-- checkpoint, the grant's grant.issued entry with its inclusion proof in that checkpoint, and
-- the grant's status proof in that checkpoint's map (the closing status.root entry and the map
-- proof), as the proof bundle's JSON (docs/ledger-format.md §8.2). Receipts of one grant against
-- one checkpoint share a row. With these a receipt's bundle proves "active at the time of the
-- read" even after the status map's old versions are pruned.
create table grant_checkpoint_proof
(
    data_grant_id   uuid        not null references data_grant (data_grant_id),
    checkpoint_size bigint      not null check (checkpoint_size > 0),
    grant_entry     jsonb       not null,
    status          jsonb       not null,
    created_at      timestamptz not null default now(),
    primary key (data_grant_id, checkpoint_size)
);

create trigger grant_checkpoint_proof_append_only
    before update or delete on grant_checkpoint_proof
    for each row execute function refuse_change();
create trigger grant_checkpoint_proof_no_truncate
    before truncate on grant_checkpoint_proof
    for each statement execute function refuse_change();

-- The checkpoint a receipt's leaf names (access.receipt v2); null for receipts written before.
alter table access_receipt
    add column verified_size bigint,
    add constraint access_receipt_verified_proof
        foreign key (data_grant_id, verified_size) references grant_checkpoint_proof (data_grant_id, checkpoint_size);
