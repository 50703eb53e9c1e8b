-- Who made a quarantined document (`device:<id>` or `user:<id>`): besides the commune's admins,
-- only that phone or person may go on syncing it. Documents quarantined before have no maker
-- recorded and are left to the admins.
alter table documents add column quarantined_by text;
