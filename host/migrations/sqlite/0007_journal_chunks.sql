-- A commit's entries as one row of the journal, and a room's runs of entries as rows of
-- `entry_chunks` (SQLite only; see the store's `journal` module for the layout of both blobs):
-- a row per entry in both tables cost SQLite two b-tree inserts and a delete per entry. What
-- the bucketed journal holds is moved into `entries` first, which readers go on reading.
INSERT INTO entries (room, pos, seq, at, data)
    SELECT room, pos, seq, at, data FROM journal WHERE true ORDER BY room, pos, n
    ON CONFLICT (room, pos) DO NOTHING;
DROP TABLE journal;
CREATE TABLE journal (
    n INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);
-- pos_from, pos_to: the first and last position of the run.
CREATE TABLE entry_chunks (
    room TEXT NOT NULL,
    pos_from INTEGER NOT NULL,
    pos_to INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (room, pos_from)
);
