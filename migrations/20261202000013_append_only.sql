-- What the ledger and the gate count must not shrink behind the server's back.
--
-- Receipts are append-only: the access mode's limits count a grant's receipts, so deleting
-- some would give an agency its reads back. Ledger entries are append-only too: an entry's
-- kind, body and enqueue time never change, and only the sequencer sets `leaf_index` and
-- `integrated_at`, once. Both rules hold for everything the portal does; a superuser who turns
-- triggers off can still break them, which is why the gate also compares a grant's receipt rows
-- with its access.receipt entries (docs/gate.md) and the sequencer re-checks sequenced entries
-- against the tree's stored hashes.

create function refuse_change() returns trigger as
$$
begin
    raise exception '% rows are append-only: % refused', tg_table_name, tg_op;
end;
$$ language plpgsql;

create trigger access_receipt_append_only
    before update or delete on access_receipt
    for each row execute function refuse_change();
create trigger access_receipt_no_truncate
    before truncate on access_receipt
    for each statement execute function refuse_change();

create function ledger_entry_is_append_only() returns trigger as
$$
begin
    if tg_op = 'DELETE' then
        raise exception 'ledger_entry rows are append-only: DELETE refused';
    end if;
    if new.kind is distinct from old.kind or new.body is distinct from old.body
        or new.enqueued_at is distinct from old.enqueued_at
        or (old.leaf_index is not null and new.leaf_index is distinct from old.leaf_index)
        or (old.integrated_at is not null and new.integrated_at is distinct from old.integrated_at) then
        raise exception 'ledger_entry rows are append-only: only the sequencer assigns a queued entry its place';
    end if;
    return new;
end;
$$ language plpgsql;

create trigger ledger_entry_append_only
    before update or delete on ledger_entry
    for each row execute function ledger_entry_is_append_only();
create trigger ledger_entry_no_truncate
    before truncate on ledger_entry
    for each statement execute function refuse_change();

-- A grant's access.receipt entries, by the grant id in the leaf (bytes 3 to 18: the format
-- version, the type tag, then the 16-byte grant id; docs/ledger-format.md).
create index ledger_entry_receipt_grant_idx on ledger_entry (substring(body from 3 for 16))
    where kind = 'access.receipt';
