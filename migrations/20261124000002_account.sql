-- Districts of the city. Names in both portal languages; the demo seed fills them.
create table district
(
    district_id text primary key check (district_id ~ '^[a-z0-9-]{1,40}$'),
    name_en     text        not null,
    name_zh     text        not null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
select trigger_updated_at('district');

-- A person who has signed in through the identity provider. Identified by the
-- (issuer, subject) pair from the ID token: the only stable identity OIDC guarantees.
-- Names and e-mail are refreshed from the provider at every login.
create table account
(
    account_id    uuid primary key     default gen_random_uuid(),
    issuer        text        not null,
    subject       text        not null,
    display_name  text        not null,
    email         text,
    locale        text,
    -- Roles as the provider asserted them at the last login (`resident`, `agency_staff`, `admin`).
    roles         text[]      not null default '{}',
    last_login_at timestamptz not null default now(),
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint account_issuer_subject_key unique (issuer, subject)
);
select trigger_updated_at('account');

-- The resident record, created at the first login of an account with the resident role.
-- Everything a resident owns (data, grants, receipts) hangs off resident_id, never off
-- the provider's subject, so changing identity providers does not move anyone's data.
create table resident
(
    resident_id uuid primary key     default gen_random_uuid(),
    account_id  uuid        not null references account (account_id) on delete cascade,
    district_id text references district (district_id),
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint resident_account_id_key unique (account_id)
);
select trigger_updated_at('resident');
