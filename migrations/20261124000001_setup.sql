-- Shared helpers for every later migration.
--
-- Conventions (keep them): table names are singular; primary keys are `<table>_id`;
-- constraints are named so the code can map violations by name; every mutable table
-- has `created_at`/`updated_at`, the latter maintained by the trigger below.
-- An applied migration is never edited: add a new one.

create or replace function set_updated_at() returns trigger as
$$
begin
    new.updated_at = now();
    return new;
end;
$$ language plpgsql;

-- Call after `create table t (..., updated_at timestamptz not null default now())`.
create or replace function trigger_updated_at(tablename regclass) returns void as
$$
begin
    execute format('create trigger set_updated_at
        before update on %s
        for each row
        when (old is distinct from new)
        execute function set_updated_at();', tablename);
end;
$$ language plpgsql;
