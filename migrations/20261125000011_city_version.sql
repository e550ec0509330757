-- A counter that moves whenever the city's slow-changing tables do: districts, facilities,
-- notices, the scope catalogue, agencies and their services. Each portal process keeps those
-- tables in memory (projected maps included) and reads this one row beside each page's
-- per-resident query; a number other than the one it loaded with makes it reload. Every
-- process so sees a change as soon as it commits, without a polling interval or a listener.
--
-- Statement-level triggers: a bulk load (the seed's COPY) moves the counter once per
-- statement, not once per row. Writes to these tables are rare (an agency publishing a
-- service, a notice), so serialising them on this row costs nothing that matters.
create table city_version
(
    only_row boolean primary key default true check (only_row),
    version  bigint  not null
);
insert into city_version (version) values (1);

create function bump_city_version() returns trigger
    language plpgsql as
$$
begin
    update city_version set version = version + 1;
    return null;
end
$$;

do
$$
    declare
        t text;
    begin
        foreach t in array array ['district', 'facility', 'notice', 'scope', 'agency', 'service', 'service_version']
            loop
                execute format('create trigger %I after insert or update or delete or truncate on %I
                                for each statement execute function bump_city_version()', t || '_city_version', t);
            end loop;
    end
$$;
