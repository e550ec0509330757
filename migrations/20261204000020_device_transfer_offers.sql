-- A holder's offer to hand a device to another resident (docs/devices.md "Transfers"): the
-- claim code is shown to the holder once and kept only as its SHA-256; one open offer per
-- device, spent by the claim (or replaced by a new offer, or withdrawn).
create table device_transfer_offer
(
    device_id   uuid primary key references device (device_id),
    resident_id uuid        not null references resident (resident_id),
    code_hash   bytea       not null unique check (length(code_hash) = 32),
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null
);
