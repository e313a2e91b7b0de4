-- New log entries land in the journal first, in the order they are committed (its rowid), and
-- the writer moves them into `entries` in bulk every so often (SQLite only). A commit then writes
-- a few pages at the end of the journal, where inserting into `entries`, whose key is (room,
-- pos), wrote a page per room in the commit: under load most of the cost of a move's storage.
-- Its key is small (the journal holds the entries of a fraction of a second), so a commit
-- writes few of its pages too; it refuses a position written twice while both are in the
-- journal (two servers on one game), as `entries` does. Readers of a log read both tables.
CREATE TABLE journal (
    room TEXT NOT NULL,
    pos INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    data BLOB NOT NULL
);
