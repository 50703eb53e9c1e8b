-- Evidence photos removed from the store by the retention rule (a set time after their
-- household's approval): the record stays, so the household shows the photo as removed and a
-- phone uploading it again is not taken back in.
create table retired_photos (
    sha256 text primary key not null,
    retired_at bigint not null
);
