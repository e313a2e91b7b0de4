-- A commit's entries as one row of the journal, and a room's runs of entries as rows of
-- `entry_chunks`, as on SQLite (see the store's `journal` module for the layout of both
-- blobs): as a row per entry, PostgreSQL's index and heap inserts took most of a commit's
-- time. Rows written before stay in `entries`, which readers go on reading.
CREATE TABLE journal (
    n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    data BYTEA NOT NULL
);
-- A journal row lives until the next move (tens of milliseconds): kept out of line as it
-- is, not compressed first.
ALTER TABLE journal ALTER COLUMN data SET STORAGE EXTERNAL;
-- pos_from, pos_to: the first and last position of the run.
CREATE TABLE entry_chunks (
    room TEXT NOT NULL,
    pos_from BIGINT NOT NULL,
    pos_to BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (room, pos_from)
);
