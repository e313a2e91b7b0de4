-- Tabula's storage on PostgreSQL: module bytes by digest, sessions, and each game's header, log
-- entries and latest snapshot. Integers that hold a u64 (seed, times, positions) are stored as
-- the BIGINT with the same bits, so every value round-trips; only values below 2^63
-- (positions, times) are compared in SQL. Every integer is a BIGINT, so that one decoding
-- serves this schema and SQLite's.
--
-- No foreign keys: the single writer writes a game's header in the same transaction as its
-- first entries or an earlier one, and a key check on the hottest insert (entries) would cost a
-- lookup per row.

CREATE TABLE modules (
    digest TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    bytes BYTEA NOT NULL,
    added_at BIGINT NOT NULL
);

-- token_hash is the SHA-256 (hex) of the token: the token itself is never stored.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    player TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used BIGINT NOT NULL
);
CREATE INDEX sessions_last_used ON sessions (last_used);

CREATE TABLE games (
    room TEXT PRIMARY KEY,
    module_name TEXT NOT NULL,
    module_version TEXT NOT NULL,
    module_digest TEXT NOT NULL,
    seed BIGINT NOT NULL,
    options TEXT NOT NULL,
    seats BIGINT NOT NULL,
    creator TEXT NOT NULL,
    private BOOLEAN NOT NULL,
    turn_deadline_ms BIGINT,
    created_at BIGINT NOT NULL,
    ended_at BIGINT,
    ending TEXT CHECK (ending IN ('finished', 'abandoned')),
    result TEXT
);
-- Recovery reads the games that have not ended: a small index however many games have.
CREATE INDEX games_unfinished ON games (room) WHERE ended_at IS NULL;

-- data: the entry, postcard-encoded (seq and at are copied out for inspection).
CREATE TABLE entries (
    room TEXT NOT NULL,
    pos BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (room, pos)
);

-- A game's latest snapshot (older ones are deleted as newer ones are written).
CREATE TABLE snapshots (
    room TEXT NOT NULL,
    pos BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (room, pos)
);
