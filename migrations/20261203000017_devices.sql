-- Devices (docs/devices.md, docs/ledger-format.md §4.4–4.5): a resident's device carries a
-- passport on the ledger (`device.registered` v2), and posts readings signed with its own key.
-- The ledger holds who registered it (a pseudonym), when, its key and a commitment to its
-- serial; this table holds the rest and the state the server enforces.

-- Readings of devices that are not meters (locks, sensors) become data of this scope; meter
-- readings go to utilities.readings beside the utility's own.
insert into scope (scope_key, kind, description_en, description_zh, sensitivity)
values ('home.devices', 'behavioral', 'Readings from your home devices: locks, air sensors, valves, lights',
        '您的家居设备读数：门锁、空气传感器、阀门、灯', 2);

create table device
(
    device_id      uuid primary key,
    resident_id    uuid        not null references resident (resident_id),
    -- The resident's own name for it ("Kitchen water meter"); not on the ledger.
    label          text        not null check (length(label) between 1 and 80),
    kind           text        not null check (kind ~ '^[a-z0-9._-]{1,64}$'),
    brand          text        not null check (length(brand) between 1 and 128),
    model          text        not null check (length(model) between 1 and 128),
    serial         text        not null check (length(serial) between 1 and 128),
    key_type       smallint    not null check (key_type = 1),
    public_key     bytea       not null check (length(public_key) = 32),
    state          text        not null default 'active' check (state in ('active', 'suspended', 'retired')),
    -- Highest counter accepted so far (-1: none yet). A reading must come with a higher one.
    last_counter   bigint      not null default -1 check (last_counter >= -1),
    last_reading_at timestamptz,
    -- Who registered it: 'resident' from the portal, or 'platform:<client id>' for a brand
    -- platform's API client acting for the resident.
    registered_by  text        not null check (registered_by = 'resident' or registered_by ~ '^platform:[a-z0-9._-]{1,64}$'),
    registered_at  timestamptz not null,
    registered_entry_id bigint not null unique references ledger_entry (ledger_entry_id),
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);
select trigger_updated_at('device');
create index device_resident_idx on device (resident_id, registered_at desc);
-- One key, one device: a cloned key would let one device speak for another.
create unique index device_public_key_idx on device (public_key);
-- The same physical device (maker, model, serial) is in service under one passport at a time.
create unique index device_serial_idx on device (brand, model, serial) where state <> 'retired';

-- Every passport entry after registration: transfers, suspensions, resumptions, retirement.
create table device_event
(
    device_event_id bigint generated always as identity primary key,
    device_id       uuid        not null references device (device_id),
    kind            text        not null check (kind in ('transferred', 'suspended', 'resumed', 'retired')),
    -- The holder after the event, and before it for a transfer.
    resident_id     uuid        not null references resident (resident_id),
    from_resident_id uuid references resident (resident_id),
    reason          text        not null default '' check (length(reason) <= 512),
    requested_by    text        not null,
    ledger_entry_id bigint      not null unique references ledger_entry (ledger_entry_id),
    at              timestamptz not null,
    check ((kind = 'transferred') = (from_resident_id is not null))
);
create index device_event_device_idx on device_event (device_id, at);
create trigger device_event_append_only
    before update or delete on device_event
    for each row execute function refuse_change();
