-- The synthetic city `onecity seed` generates (docs/scale.md, "Loading a city").
--
-- A database holds at most one synthetic city. Its parameters are kept so that a rerun
-- continues the same city (the same seed, sizes and dates) instead of mixing two, and so that
-- a rerun with other flags is refused with a clear message.
create table seed_city
(
    seed_city_id      boolean primary key default true check (seed_city_id),
    seed              bigint      not null,
    residents         integer     not null check (residents >= 0),
    records           bigint      not null check (records >= 0),
    -- The generated year ends at the start of this day (UTC).
    until_date        date        not null,
    chunk_residents   integer     not null check (chunk_residents > 0),
    -- The generator's version: the same seed with another version is another city.
    generator_version integer     not null,
    started_at        timestamptz not null default now(),
    completed_at      timestamptz
);

-- The chunks of residents already loaded. A chunk's row commits in the same transaction as
-- every row of the chunk (accounts, residents, records, grants and their ledger entries), so
-- after an interruption a rerun skips exactly the chunks that are in and loads the rest:
-- nothing is duplicated and nothing is lost.
create table seed_chunk
(
    seed_chunk_id integer primary key check (seed_chunk_id >= 0),
    residents     integer     not null,
    records       bigint      not null,
    loaded_at     timestamptz not null default now()
);
