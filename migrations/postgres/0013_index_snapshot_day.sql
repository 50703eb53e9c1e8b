-- One dashboard point a day per commune and view, even when several servers draw the dashboard
-- at the same moment: the day (in Vietnam, UTC+7) is stored and unique. Points taken twice on a
-- day before this keep the first.
alter table index_snapshots add column day bigint;
update index_snapshots set day = (taken_at + 25200000) / 86400000;
delete from index_snapshots
where exists (
    select 1 from index_snapshots o
    where o.commune_code = index_snapshots.commune_code
      and o.view = index_snapshots.view
      and o.day = index_snapshots.day
      and o.taken_at < index_snapshots.taken_at
);
create unique index index_snapshots_one_a_day on index_snapshots (commune_code, view, day);
