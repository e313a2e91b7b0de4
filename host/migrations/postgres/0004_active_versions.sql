-- The version of each game that new rooms get, as an operator last set it (an activation). The
-- versions themselves are the modules kept in `modules`; a game without a row here has the
-- first version installed active.
CREATE TABLE active_versions (
    game TEXT PRIMARY KEY NOT NULL,
    version TEXT NOT NULL,
    set_at BIGINT NOT NULL
);
