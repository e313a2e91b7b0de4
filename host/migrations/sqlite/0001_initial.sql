-- Tabula's storage on SQLite: module bytes by digest, sessions, and each game's header, log
-- entries and latest snapshot. Integers that hold a u64 (seed, times, positions) are stored as
-- the i64 with the same bits, so every value round-trips; only values below 2^63 (positions,
-- times) are compared in SQL.
--
-- No foreign keys: the single writer writes a game's header in the same transaction as its
-- first entries or an earlier one, and a key check on the hottest insert (entries) would cost a
-- lookup per row.

CREATE TABLE modules (
    digest TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    bytes BLOB NOT NULL,
    added_at INTEGER NOT NULL
);

-- token_hash is the SHA-256 (hex) of the token: the token itself is never stored.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    player TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used INTEGER NOT NULL
);
CREATE INDEX sessions_last_used ON sessions (last_used);

CREATE TABLE games (
    room TEXT PRIMARY KEY NOT NULL,
    module_name TEXT NOT NULL,
    module_version TEXT NOT NULL,
    module_digest TEXT NOT NULL,
    seed INTEGER NOT NULL,
    options TEXT NOT NULL,
    seats INTEGER NOT NULL,
    creator TEXT NOT NULL,
    private BOOLEAN NOT NULL,
    turn_deadline_ms INTEGER,
    created_at INTEGER NOT NULL,
    ended_at INTEGER,
    ending TEXT CHECK (ending IN ('finished', 'abandoned')),
    result TEXT
);
-- Recovery reads the games that have not ended: a small index however many games have.
CREATE INDEX games_unfinished ON games (room) WHERE ended_at IS NULL;

-- data: the entry, postcard-encoded (seq and at are copied out for inspection).
-- WITHOUT ROWID: rows are small and always read by (room, pos), so the key is the table.
CREATE TABLE entries (
    room TEXT NOT NULL,
    pos INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (room, pos)
) WITHOUT ROWID;

-- A game's latest snapshot (older ones are deleted as newer ones are written).
CREATE TABLE snapshots (
    room TEXT NOT NULL,
    pos INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (room, pos)
);
