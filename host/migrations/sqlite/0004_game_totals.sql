-- Each game version's finished games in running totals, added to by the writer as each game
-- finishes (in the transaction that ends it, before its row is marked ended, so that a retried
-- commit does not count it twice): game statistics read one row per version instead of
-- aggregating every finished game at each request. Filled from the games already finished.
CREATE TABLE game_totals (
    module_name TEXT NOT NULL,
    module_version TEXT NOT NULL,
    games INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    first_started_at INTEGER NOT NULL,
    last_ended_at INTEGER NOT NULL,
    PRIMARY KEY (module_name, module_version)
);
INSERT INTO game_totals (module_name, module_version, games, duration_ms, first_started_at,
                         last_ended_at)
SELECT module_name, module_version, COUNT(*), COALESCE(SUM(ended_at - started_at), 0),
       COALESCE(MIN(started_at), 0), COALESCE(MAX(ended_at), 0)
FROM games WHERE ending = 'finished' GROUP BY module_name, module_version;
