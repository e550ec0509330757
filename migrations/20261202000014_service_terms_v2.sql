-- Leaf format v2: a service version's service.published leaf commits to every term a resident
-- reads or the gate enforces (names and descriptions in both languages, category, access mode,
-- daily limit, districts, history), not only purpose, scopes and retention (docs/ledger-format.md).
--
-- One new term: how many days before a grant's start a read may reach. 0 (the default, and
-- what every version published before this migration has) means none: a read sees what happened
-- from the grant's start on. A service that needs history (fare capping counts the month so far)
-- says so here, in the terms the resident reads before agreeing.
alter table service_version
    add column history_days integer not null default 0 check (history_days between 0 and 366);

