-- The agency an agency_staff account works for, as the identity provider asserted it at the
-- last sign-in (claim `agency` by default). No foreign key: a provider may name an agency the
-- city has not registered yet; the console refuses such accounts until it exists.
alter table account
    add column agency_id text check (agency_id ~ '^[a-z0-9-]{2,40}$');
