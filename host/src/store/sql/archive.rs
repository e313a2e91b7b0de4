//! The archive on SQL: [`Archive`] reads the summaries and seats the writer stored when games
//! ended, and queues purges for the writer.
//!
//! Owns: the archive's read queries. Must not touch: writes (a purge is queued like any other
//! write, in bounded steps).

use super::queue::{Inlet, Item, PurgeItem};
use super::sessions::awaited;
use super::{Db, db_error, now_ms, uint};
use crate::ids::{PlayerId, RoomId};
use crate::store::archive::{
    Archive, GameStats, GameSummary, PlayedGame, PlayerStats, SeatCounts, SeatSummary,
};
use crate::store::{BoxFuture, StoreError};
use std::sync::Arc;

/// Games whose logs one commit purges, at most: a few hundred entries each, so that a purge
/// step holds the writer (and the rooms waiting on its commits) for milliseconds, not seconds.
const PURGE_STEP: u64 = 100;

/// The archive in the database.
pub(super) struct SqlArchive {
    inlet: Arc<Inlet>,
    reads: Db,
}

impl SqlArchive {
    pub fn new(inlet: Arc<Inlet>, reads: Db) -> SqlArchive {
        SqlArchive { inlet, reads }
    }
}

/// A finished game's row.
#[derive(sqlx::FromRow)]
struct SummaryRow {
    module_name: String,
    module_version: String,
    module_digest: String,
    result: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    ended_at: Option<i64>,
    steps: Option<i64>,
    log_purged_at: Option<i64>,
}

/// A seat's row.
#[derive(sqlx::FromRow)]
struct SeatRow {
    seat: i64,
    player: Option<String>,
    name: Option<String>,
    left_early: bool,
    won: Option<bool>,
    score: Option<i64>,
}

impl SeatRow {
    fn decode(self) -> SeatSummary {
        SeatSummary {
            seat: self.seat as u32,
            player: self.player.as_deref().map(PlayerId::from_wire),
            name: self.name,
            left: self.left_early,
            won: self.won,
            score: self.score,
        }
    }
}

/// A game in a player's history.
#[derive(sqlx::FromRow)]
struct PlayedRow {
    room: String,
    module_name: String,
    module_version: String,
    seat: i64,
    won: Option<bool>,
    score: Option<i64>,
    left_early: bool,
    ended_at: i64,
}

async fn summary(db: &Db, room: &RoomId) -> Result<Option<GameSummary>, StoreError> {
    let game_sql = "SELECT module_name, module_version, module_digest, result, created_at, \
                    started_at, ended_at, steps, log_purged_at FROM games \
                    WHERE room = $1 AND ending = 'finished'";
    let seats_sql = "SELECT seat, player, name, left_early, won, score FROM game_seats \
                     WHERE room = $1 ORDER BY seat";
    let (row, seats) = each_db!(db, Db, pool => {
        let row: Option<SummaryRow> = sqlx::query_as(game_sql)
            .bind(room.as_str())
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
        let seats: Vec<SeatRow> = match row {
            Some(_) => sqlx::query_as(seats_sql)
                .bind(room.as_str())
                .fetch_all(pool)
                .await
                .map_err(db_error)?,
            None => Vec::new(),
        };
        (row, seats)
    });
    let Some(row) = row else {
        return Ok(None);
    };
    let started_at = uint(row.started_at.unwrap_or(row.created_at));
    let ended_at = uint(row.ended_at.unwrap_or(row.created_at));
    let result = row.result.unwrap_or_else(|| "null".into());
    let result = serde_json::from_str(&result).unwrap_or(serde_json::Value::String(result));
    Ok(Some(GameSummary {
        room: room.clone(),
        game: row.module_name,
        version: row.module_version,
        digest: row.module_digest,
        rounds: crate::store::archive::rounds_of(&result),
        result,
        seats: seats.into_iter().map(SeatRow::decode).collect(),
        created_at: uint(row.created_at),
        started_at,
        ended_at,
        duration_ms: ended_at.saturating_sub(started_at),
        steps: row.steps.map_or(0, uint),
        log_kept: row.log_purged_at.is_none(),
    }))
}

async fn player_stats(
    db: &Db,
    player: &PlayerId,
    recent: usize,
) -> Result<PlayerStats, StoreError> {
    let counts_sql = "SELECT COUNT(*), COUNT(won), \
                      COALESCE(SUM(CASE WHEN won THEN 1 ELSE 0 END), 0), COUNT(score), \
                      CAST(COALESCE(SUM(score), 0) AS DOUBLE PRECISION) \
                      FROM game_seats WHERE player = $1";
    let recent_sql = "SELECT s.room, g.module_name, g.module_version, s.seat, s.won, s.score, \
                      s.left_early, s.ended_at FROM game_seats s JOIN games g ON g.room = s.room \
                      WHERE s.player = $1 ORDER BY s.ended_at DESC, s.room LIMIT $2";
    let (counts, rows) = each_db!(db, Db, pool => {
        let counts: (i64, i64, i64, i64, f64) = sqlx::query_as(counts_sql)
            .bind(player.as_str())
            .fetch_one(pool)
            .await
            .map_err(db_error)?;
        let rows: Vec<PlayedRow> = sqlx::query_as(recent_sql)
            .bind(player.as_str())
            .bind(recent as i64)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
        (counts, rows)
    });
    let (games, rated, wins, scored, score_sum) = counts;
    let counts = SeatCounts {
        games: uint(games),
        rated: uint(rated),
        wins: uint(wins),
        scored: uint(scored),
        score_sum,
    };
    let recent = rows
        .into_iter()
        .map(|r| PlayedGame {
            room: RoomId::from_wire(&r.room),
            game: r.module_name,
            version: r.module_version,
            seat: r.seat as u32,
            won: r.won,
            score: r.score,
            left: r.left_early,
            ended_at: uint(r.ended_at),
        })
        .collect();
    Ok(PlayerStats::new(player.clone(), counts, recent))
}

async fn games(db: &Db, now_ms: u64) -> Result<Vec<GameStats>, StoreError> {
    // The running totals (one row per version), and the last hour's games counted on the
    // index of finished games by version and end.
    let sql = "SELECT t.module_name, t.module_version, t.games, \
               (SELECT COUNT(*) FROM games g WHERE g.ending = 'finished' \
                AND g.module_name = t.module_name AND g.module_version = t.module_version \
                AND g.ended_at >= $1), \
               t.first_started_at, t.last_ended_at, \
               CAST(t.duration_ms AS DOUBLE PRECISION) / t.games \
               FROM game_totals t WHERE t.games > 0 \
               ORDER BY t.module_name, t.module_version";
    type Row = (
        String,
        String,
        i64,
        i64,
        Option<i64>,
        Option<i64>,
        Option<f64>,
    );
    let hour_ago = now_ms.saturating_sub(3_600_000) as i64;
    let rows: Vec<Row> = each_db!(db, Db, pool => {
        sqlx::query_as(sql).bind(hour_ago).fetch_all(pool).await.map_err(db_error)?
    });
    Ok(rows
        .into_iter()
        .map(|(name, version, n, last_hour, first, last, avg)| {
            let span = uint(last.unwrap_or(0)).saturating_sub(uint(first.unwrap_or(0)));
            GameStats::new(
                (name, version),
                uint(n),
                uint(last_hour),
                span,
                avg.unwrap_or(0.0),
            )
        })
        .collect())
}

impl Archive for SqlArchive {
    fn summary(&self, room: &RoomId) -> BoxFuture<'_, Result<Option<GameSummary>, StoreError>> {
        let room = room.clone();
        Box::pin(async move { summary(&self.reads, &room).await })
    }

    fn player(
        &self,
        player: &PlayerId,
        recent: usize,
    ) -> BoxFuture<'_, Result<PlayerStats, StoreError>> {
        let who = player.clone();
        Box::pin(async move { player_stats(&self.reads, &who, recent).await })
    }

    fn games(&self, now_ms: u64) -> BoxFuture<'_, Result<Vec<GameStats>, StoreError>> {
        Box::pin(games(&self.reads, now_ms))
    }

    fn purge(&self, before_ms: u64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let mut total = 0;
            loop {
                let n = awaited(&self.inlet, |done| {
                    Item::Purge(PurgeItem {
                        before: before_ms,
                        limit: PURGE_STEP,
                        at: now_ms(),
                        done,
                    })
                })
                .await?;
                total += n;
                if n < PURGE_STEP {
                    return Ok(total);
                }
            }
        })
    }
}
