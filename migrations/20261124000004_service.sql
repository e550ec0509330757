-- What residents can grant, who asks, and for what (docs/ledger-format.md: service.published).

-- The scopes catalogue: everything that can be granted. Reference data, so it ships with the
-- schema; later additions come in new migrations.
create table scope
(
    scope_key      text primary key check (scope_key ~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$'),
    -- confirmation: ownership and identity records; behavioral: high-volume activity data;
    -- predicate: a yes/no derived from records, never the underlying value.
    kind           text     not null check (kind in ('confirmation', 'behavioral', 'predicate')),
    description_en text     not null check (description_en <> ''),
    description_zh text     not null check (description_zh <> ''),
    -- 1 low, 2 medium, 3 high: shown to residents, and high scopes need an explicit choice.
    sensitivity    smallint not null check (sensitivity between 1 and 3)
);

insert into scope (scope_key, kind, description_en, description_zh, sensitivity)
values ('property.titles', 'confirmation', 'Your property titles: address, share and date of registration', '您的房产证信息：地址、份额和登记日期', 3),
       ('bank.accounts', 'confirmation', 'Which bank accounts you hold (not balances)', '您持有的银行账户（不含余额）', 3),
       ('telecom.call_records', 'confirmation', 'Your call records: time, duration, other party', '您的通话记录：时间、时长、对方号码', 3),
       ('transit.trips', 'behavioral', 'Your public transport trips: stations, times and fares', '您的公共交通出行：站点、时间和票价', 2),
       ('shopping.receipts', 'behavioral', 'Your shopping receipts from participating shops', '您在合作商户的购物小票', 2),
       ('utilities.readings', 'behavioral', 'Your electricity, water and gas meter readings', '您的电、水、燃气表读数', 1),
       ('services.logs', 'behavioral', 'Your use of city services: visits and requests', '您使用城市服务的记录：办理和申请', 1),
       ('identity.age_over_65', 'predicate', 'Only whether you are 65 or over — not your age or birth date', '仅告知您是否年满65岁，不提供年龄或出生日期', 1),
       ('residence.district', 'predicate', 'Only which district you live in — not your address', '仅告知您所在的区，不提供具体地址', 1),
       ('income.below_benefit_threshold', 'predicate', 'Only whether your income is under the benefit threshold — not the amount', '仅告知您的收入是否低于补助标准，不提供金额', 2);

-- An agency of the city: publishes services, reads granted data through the gate.
create table agency
(
    agency_id  text primary key check (agency_id ~ '^[a-z0-9-]{2,40}$'),
    name_en    text        not null,
    name_zh    text        not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
select trigger_updated_at('agency');

-- A service an agency offers. What it asks for lives in its versions.
create table service
(
    service_id uuid primary key     default gen_random_uuid(),
    agency_id  text        not null references agency (agency_id),
    slug       text        not null check (slug ~ '^[a-z0-9-]{2,60}$'),
    -- draft: never published; published: its newest version can be granted; withdrawn: no
    -- new grants (existing grants keep their version until they end or are revoked).
    status     text        not null default 'draft' check (status in ('draft', 'published', 'withdrawn')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint service_agency_slug_key unique (agency_id, slug)
);
select trigger_updated_at('service');

-- One published version of a service: immutable. A grant points at exactly one version, so an
-- agency can never widen the purpose or the data a resident agreed to. The same text is in
-- the ledger as a service.published entry; `leaf_hash` is that entry's RFC 6962 leaf hash.
create table service_version
(
    service_id      uuid        not null references service (service_id),
    version         integer     not null check (version >= 1),
    name_en         text        not null check (name_en <> ''),
    name_zh         text        not null check (name_zh <> ''),
    description_en  text        not null,
    description_zh  text        not null,
    category        text        not null,
    purpose         text        not null check (purpose <> ''),
    required_scopes text[]      not null,
    optional_scopes text[]      not null default '{}',
    retention_days  integer     not null check (retention_days between 1 and 3650),
    districts       text[]      not null default '{}',
    -- one_off: a single read; recurring: at most `max_reads_per_day`; ongoing: no limit.
    access_mode     text        not null check (access_mode in ('one_off', 'recurring', 'ongoing')),
    max_reads_per_day integer check (max_reads_per_day > 0),
    ledger_entry_id bigint      not null references ledger_entry (ledger_entry_id),
    leaf_hash       bytea       not null check (length(leaf_hash) = 32),
    published_at    timestamptz not null default now(),
    primary key (service_id, version),
    constraint service_version_recurring_limit check ((access_mode = 'recurring') = (max_reads_per_day is not null)),
    constraint service_version_scopes_disjoint check (not (required_scopes && optional_scopes))
);

create function service_version_is_immutable() returns trigger as
$$
begin
    raise exception 'service_version rows are immutable: publish a new version instead';
end;
$$ language plpgsql;

create trigger service_version_immutable
    before update or delete on service_version
    for each row execute function service_version_is_immutable();
