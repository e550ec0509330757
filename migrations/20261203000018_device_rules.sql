-- Linkage rules (docs/devices.md "Rules"): a resident lets one device act on another's
-- readings. A rule is a grant from one device to another: `rule.granted` on the ledger, pending
-- until a quorum checkpoint covers it, stopped by `grant.revoked`; each action it causes is a
-- `rule.fired` receipt.

create table device_rule
(
    rule_id           uuid primary key,
    resident_id       uuid        not null references resident (resident_id),
    trigger_device_id uuid        not null references device (device_id),
    action_device_id  uuid        not null references device (device_id),
    metric            text        not null check (metric ~ '^[a-z0-9._-]{1,64}$'),
    comparison        text        not null check (comparison in ('<', '<=', '==', '!=', '>=', '>')),
    threshold         bigint      not null,
    command           text        not null check (command ~ '^[a-z0-9._-]{1,64}$'),
    notify            boolean     not null,
    -- Minutes after local midnight; both or neither.
    window_start      smallint check (window_start between 0 and 1439),
    window_end        smallint check (window_end between 0 and 1439),
    utc_offset_minutes smallint   not null,
    valid_from        timestamptz not null,
    valid_until       timestamptz not null,
    granted_entry_id  bigint      not null unique references ledger_entry (ledger_entry_id),
    created_at        timestamptz not null default now(),
    check (trigger_device_id <> action_device_id),
    check ((window_start is null) = (window_end is null)),
    check (window_start is null or window_start <> window_end),
    check (valid_from < valid_until)
);
create index device_rule_trigger_idx on device_rule (trigger_device_id);
create index device_rule_resident_idx on device_rule (resident_id, created_at desc);
create trigger device_rule_append_only
    before update or delete on device_rule
    for each row execute function refuse_change();

create table device_rule_revocation
(
    rule_id         uuid primary key references device_rule (rule_id),
    revoked_at      timestamptz not null,
    ledger_entry_id bigint      not null unique references ledger_entry (ledger_entry_id)
);

-- Every action a rule caused, with its receipt entry; delivered_at is set once, when the
-- action device (or its platform) collects the command.
create table device_rule_firing
(
    firing_id        bigint generated always as identity primary key,
    rule_id          uuid        not null references device_rule (rule_id),
    action_device_id uuid        not null references device (device_id),
    trigger_counter  bigint      not null,
    command          text        not null,
    fired_at         timestamptz not null,
    verified_size    bigint      not null,
    ledger_entry_id  bigint      not null unique references ledger_entry (ledger_entry_id),
    delivered_at     timestamptz
);
create index device_rule_firing_rule_idx on device_rule_firing (rule_id, fired_at desc);
create index device_rule_firing_pending_idx on device_rule_firing (action_device_id, firing_id) where delivered_at is null;

-- A firing is a receipt: only its delivery time may be written, once.
create function device_rule_firing_guard() returns trigger as
$$
begin
    if tg_op = 'DELETE' or old.delivered_at is not null or new.delivered_at is null
        or (new.firing_id, new.rule_id, new.action_device_id, new.trigger_counter, new.command, new.fired_at,
            new.verified_size, new.ledger_entry_id)
           is distinct from
           (old.firing_id, old.rule_id, old.action_device_id, old.trigger_counter, old.command, old.fired_at,
            old.verified_size, old.ledger_entry_id) then
        raise exception 'device_rule_firing is append-only (only delivered_at may be set, once)';
    end if;
    return new;
end
$$ language plpgsql;
create trigger device_rule_firing_append_only
    before update or delete on device_rule_firing
    for each row execute function device_rule_firing_guard();
