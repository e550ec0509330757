-- A counter per resident that moves whenever any of their records does: civil data (the
-- predicates), confirmation records, behavioral records. The portal keeps a resident's
-- rendered My City in memory and reuses it only while this number, the city's version, the
-- newest cosigned checkpoint, the resident's and account's rows, the session and a hash of
-- the resident's grant rows are all unchanged (server/src/page_cache.rs, docs/scale.md).
--
-- Statement-level triggers with transition tables: a bulk COPY moves each affected resident
-- once per statement, not once per row. Writes that bypass triggers need a superuser, who
-- could as well change anything else.
alter table resident add column data_version bigint not null default 0;

create function bump_resident_data_version() returns trigger
    language plpgsql as
$$
begin
    if tg_op = 'DELETE' then
        update resident set data_version = data_version + 1
        where resident_id in (select distinct resident_id from old_rows);
    else
        update resident set data_version = data_version + 1
        where resident_id in (select distinct resident_id from new_rows);
        if tg_op = 'UPDATE' then
            update resident set data_version = data_version + 1
            where resident_id in (select distinct resident_id from old_rows)
              and resident_id not in (select resident_id from new_rows);
        end if;
    end if;
    return null;
end
$$;

create function bump_every_resident_data_version() returns trigger
    language plpgsql as
$$
begin
    update resident set data_version = data_version + 1;
    return null;
end
$$;

-- PostgreSQL allows transition tables only on single-event triggers: one per event.
do
$$
    declare
        t text;
    begin
        foreach t in array array ['civil_record', 'confirmation_record', 'behavioral_record']
            loop
                execute format('create trigger %I after insert on %I referencing new table as new_rows
                                for each statement execute function bump_resident_data_version()',
                               t || '_version_insert', t);
                execute format('create trigger %I after update on %I referencing old table as old_rows
                                new table as new_rows for each statement execute function bump_resident_data_version()',
                               t || '_version_update', t);
                execute format('create trigger %I after delete on %I referencing old table as old_rows
                                for each statement execute function bump_resident_data_version()',
                               t || '_version_delete', t);
                execute format('create trigger %I after truncate on %I
                                for each statement execute function bump_every_resident_data_version()',
                               t || '_version_truncate', t);
            end loop;
    end
$$;
