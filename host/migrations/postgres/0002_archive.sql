-- The archive of finished games: when a game ends its row gets its start time and steps, and
-- each seat gets a row with who held it and how they did (statistics read these). Retention
-- purges a game's entries and snapshots and sets log_purged_at; its summary stays.

ALTER TABLE games ADD COLUMN started_at BIGINT;
ALTER TABLE games ADD COLUMN steps BIGINT;
ALTER TABLE games ADD COLUMN log_purged_at BIGINT;
-- Purges look for ended games whose logs are kept, oldest first.
CREATE INDEX games_ended ON games (ended_at) WHERE ended_at IS NOT NULL AND log_purged_at IS NULL;
-- Game statistics group finished games by module.
CREATE INDEX games_finished ON games (module_name, module_version, ended_at) WHERE ending = 'finished';

-- player and name are NULL for a bot's seat; won is NULL when the result does not follow the
-- outcome convention; score is NULL without scores.
CREATE TABLE game_seats (
    room TEXT NOT NULL,
    seat BIGINT NOT NULL,
    player TEXT,
    name TEXT,
    left_early BOOLEAN NOT NULL,
    won BOOLEAN,
    score BIGINT,
    ended_at BIGINT NOT NULL,
    PRIMARY KEY (room, seat)
);
-- A player's statistics and recent history.
CREATE INDEX game_seats_player ON game_seats (player, ended_at) WHERE player IS NOT NULL;
