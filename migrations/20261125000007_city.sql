-- The city around the resident: district boundaries (drawn as the My City map), places
-- people go, and what the city tells its districts. Plus the portal language each
-- resident chose, so it follows them across devices.

-- GeoJSON geometry (Polygon or MultiPolygon, WGS 84 lon/lat) of the district, as in
-- public/city.geojson, which the seed loads.
alter table district
    add column boundary jsonb check (boundary is null or boundary ->> 'type' in ('Polygon', 'MultiPolygon'));

create table facility
(
    facility_id text primary key check (facility_id ~ '^[a-z0-9-]{1,60}$'),
    district_id text             not null references district (district_id),
    kind        text             not null check (kind in
                                                 ('transit', 'clinic', 'library', 'school', 'park', 'service-centre',
                                                  'recycling')),
    name_en     text             not null,
    name_zh     text             not null,
    lon         double precision not null check (lon between -180 and 180),
    lat         double precision not null check (lat between -90 and 90),
    created_at  timestamptz      not null default now(),
    updated_at  timestamptz      not null default now()
);
select trigger_updated_at('facility');
create index facility_district on facility (district_id);

-- A notice from an agency to one district, or to the whole city when district_id is null.
create table notice
(
    notice_id    text primary key check (notice_id ~ '^[a-z0-9-]{1,60}$'),
    district_id  text references district (district_id),
    agency_id    text        not null references agency (agency_id),
    title_en     text        not null check (length(title_en) between 1 and 200),
    title_zh     text        not null check (length(title_zh) between 1 and 200),
    body_en      text        not null check (length(body_en) <= 2000),
    body_zh      text        not null check (length(body_zh) <= 2000),
    published_at timestamptz not null default now(),
    expires_at   timestamptz,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    check (expires_at is null or expires_at > published_at)
);
select trigger_updated_at('notice');
create index notice_current on notice (district_id, published_at desc);

-- The portal language the person chose in the portal; null until they choose. Unlike
-- `locale` (the provider's claim, refreshed at every sign-in) the provider never changes it.
alter table account
    add column portal_locale text check (portal_locale in ('en', 'zh-CN'));
