-- The journal in buckets (SQLite only): a room's entries all go to the bucket its id hashes to,
-- numbered in the order they are committed (`n`), and the writer moves one bucket at a time
-- into `entries`, where moving the whole journal at once held every room's next commit for as
-- long as the move took. Whatever the old journal holds is moved first. Positions are not a
-- key here: a retried commit may write a position again, and of the two the move and the
-- readers keep the first (the smaller `n`).
INSERT INTO entries (room, pos, seq, at, data)
    SELECT room, pos, seq, at, data FROM journal WHERE true ORDER BY room, pos, rowid
    ON CONFLICT (room, pos) DO NOTHING;
DROP TABLE journal;
CREATE TABLE journal (
    bucket INTEGER NOT NULL,
    n INTEGER NOT NULL,
    room TEXT NOT NULL,
    pos INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (bucket, n)
) WITHOUT ROWID;
