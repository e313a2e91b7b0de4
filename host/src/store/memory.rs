//! In-memory implementations of the storage ports: what a server without a database uses, and
//! what tests use. The log reports every entry durable as soon as it is appended; a game that
//! has not ended can be rebuilt by another server given the same log (how recovery is tested
//! without a database). Of the games that ended, the last [`ENDED_KEPT`] finished ones stay
//! readable, and the summaries of the last [`SUMMARIES_KEPT`] make the archive; abandoned ones
//! are forgotten at once.

use super::archive::{
    Archive, GameStats, GameSummary, PlayedGame, PlayerStats, SeatCounts, SeatSummary,
};
use super::{
    BoxFuture, Durable, Ending, Entry, EventLog, GameHeader, GameLog, GameWriter, ModuleKey,
    ModuleStore, SessionStore, Snapshot, StoreError, StoredSession,
};
use crate::ids::{PlayerId, RoomId, Token};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// One game as kept here: every entry, and the latest snapshot.
struct Kept {
    header: GameHeader,
    entries: Vec<Entry>,
    snapshot: Option<Snapshot>,
}

/// One game's log; its writer appends without going through the map of games.
type Shared = Arc<Mutex<Kept>>;
type Games = Arc<Mutex<HashMap<RoomId, Shared>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Finished games a memory log keeps readable (a throwaway server must not grow forever).
pub const ENDED_KEPT: usize = 1024;

/// Summaries of finished games a memory log keeps (its statistics cover these).
pub const SUMMARIES_KEPT: usize = 10_000;

/// Finished games, oldest first: their logs (until purged) and their summaries.
#[derive(Default)]
struct Ended {
    logs: VecDeque<(RoomId, Shared)>,
    summaries: VecDeque<GameSummary>,
}

/// Every open game's log, in memory.
#[derive(Default)]
pub struct MemoryLog {
    games: Games,
    /// Finished games; kept out of `games`, which recovery reads.
    ended: Arc<Mutex<Ended>>,
}

impl MemoryLog {
    /// The archive of this log's finished games.
    pub fn archive(&self) -> MemoryArchive {
        MemoryArchive {
            ended: self.ended.clone(),
        }
    }

    fn writer(&self, room: RoomId, game: Shared, appended: u64) -> Box<dyn GameWriter> {
        let durable = Arc::new(Durable::default());
        durable.advance(appended);
        Box::new(MemoryWriter {
            games: self.games.clone(),
            ended: self.ended.clone(),
            game,
            room,
            appended,
            durable,
        })
    }
}

fn numbered(entries: &[Entry], from: usize) -> Vec<(u64, Entry)> {
    entries
        .iter()
        .enumerate()
        .skip(from)
        .map(|(i, e)| (i as u64 + 1, e.clone()))
        .collect()
}

impl EventLog for MemoryLog {
    fn create(&self, header: GameHeader) -> Result<Box<dyn GameWriter>, StoreError> {
        let room = header.room.clone();
        let mut games = lock(&self.games);
        if games.contains_key(&room) {
            return Err(StoreError::Duplicate { room });
        }
        let game = Arc::new(Mutex::new(Kept {
            header,
            entries: Vec::new(),
            snapshot: None,
        }));
        games.insert(room.clone(), game.clone());
        drop(games);
        Ok(self.writer(room, game, 0))
    }

    fn reopen(&self, header: &GameHeader, appended: u64) -> Box<dyn GameWriter> {
        let room = header.room.clone();
        let game = lock(&self.games)
            .entry(room.clone())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Kept {
                    header: header.clone(),
                    entries: Vec::new(),
                    snapshot: None,
                }))
            })
            .clone();
        self.writer(room, game, appended)
    }

    fn unfinished(&self) -> BoxFuture<'_, Result<Vec<GameLog>, StoreError>> {
        let games: Vec<Shared> = lock(&self.games).values().cloned().collect();
        let logs = games
            .iter()
            .map(|g| {
                let g = lock(g);
                let from = g.snapshot.as_ref().map_or(0, |s| s.pos as usize);
                GameLog {
                    header: g.header.clone(),
                    snapshot: g.snapshot.clone(),
                    entries: numbered(&g.entries, from),
                    damaged: None,
                }
            })
            .collect();
        Box::pin(std::future::ready(Ok(logs)))
    }

    fn read(&self, room: &RoomId) -> BoxFuture<'_, Result<Option<GameLog>, StoreError>> {
        let game = lock(&self.games).get(room).cloned().or_else(|| {
            lock(&self.ended)
                .logs
                .iter()
                .find(|(id, _)| id == room)
                .map(|(_, g)| g.clone())
        });
        let log = game.map(|g| {
            let g = lock(&g);
            GameLog {
                header: g.header.clone(),
                snapshot: None,
                entries: numbered(&g.entries, 0),
                damaged: None,
            }
        });
        Box::pin(std::future::ready(Ok(log)))
    }

    fn taken(&self, room: &RoomId) -> BoxFuture<'_, Result<bool, StoreError>> {
        let taken = lock(&self.games).contains_key(room) || {
            let ended = lock(&self.ended);
            ended.logs.iter().any(|(id, _)| id == room)
                || ended.summaries.iter().any(|s| s.room == *room)
        };
        Box::pin(std::future::ready(Ok(taken)))
    }

    fn accepting(&self) -> bool {
        true
    }
}

struct MemoryWriter {
    games: Games,
    ended: Arc<Mutex<Ended>>,
    game: Shared,
    room: RoomId,
    appended: u64,
    durable: Arc<Durable>,
}

impl GameWriter for MemoryWriter {
    fn append(&mut self, entry: Entry) -> u64 {
        let mut game = lock(&self.game);
        if game.entries.capacity() == 0 {
            // Most rooms never start: one seat entry is all many of them log.
            game.entries.reserve_exact(1);
        }
        game.entries.push(entry);
        self.appended += 1;
        self.durable.advance(self.appended);
        self.appended
    }

    fn snapshot(&mut self, seq: u64, data: Vec<u8>) {
        lock(&self.game).snapshot = Some(Snapshot {
            pos: self.appended,
            seq,
            data,
        });
    }

    fn durable(&self) -> Arc<Durable> {
        self.durable.clone()
    }

    fn accepting(&self) -> bool {
        true
    }

    fn end(&mut self, ending: Ending) {
        let game = lock(&self.games).remove(&self.room);
        if let (Some(game), Ending::Finished(f)) = (game, ending) {
            let (module, created_at) = {
                let kept = lock(&game);
                (kept.header.module.clone(), kept.header.created_at)
            };
            let result = serde_json::from_str(&f.result).unwrap_or(serde_json::Value::Null);
            let summary = GameSummary {
                room: self.room.clone(),
                game: module.name,
                version: module.version,
                digest: module.digest,
                rounds: super::archive::rounds_of(&result),
                result,
                seats: SeatSummary::of(&f.seats, &f.result),
                created_at,
                started_at: f.started_at,
                ended_at: f.ended_at,
                duration_ms: f.ended_at.saturating_sub(f.started_at),
                steps: f.steps,
                log_kept: true,
            };
            let mut ended = lock(&self.ended);
            if ended.logs.len() >= ENDED_KEPT {
                ended.logs.pop_front();
            }
            ended.logs.push_back((self.room.clone(), game));
            if ended.summaries.len() >= SUMMARIES_KEPT {
                ended.summaries.pop_front();
            }
            ended.summaries.push_back(summary);
        }
    }
}

/// The archive of a [`MemoryLog`]: the summaries of its last [`SUMMARIES_KEPT`] finished games.
pub struct MemoryArchive {
    ended: Arc<Mutex<Ended>>,
}

impl Archive for MemoryArchive {
    fn summary(&self, room: &RoomId) -> BoxFuture<'_, Result<Option<GameSummary>, StoreError>> {
        let ended = lock(&self.ended);
        let found = ended
            .summaries
            .iter()
            .rev()
            .find(|s| s.room == *room)
            .cloned();
        let found = found.map(|mut s| {
            s.log_kept = ended.logs.iter().any(|(id, _)| id == room);
            s
        });
        Box::pin(std::future::ready(Ok(found)))
    }

    fn player(
        &self,
        player: &PlayerId,
        recent: usize,
    ) -> BoxFuture<'_, Result<PlayerStats, StoreError>> {
        let ended = lock(&self.ended);
        let mut counts = SeatCounts::default();
        let mut played = Vec::new();
        for game in ended.summaries.iter().rev() {
            for seat in game
                .seats
                .iter()
                .filter(|s| s.player.as_ref() == Some(player))
            {
                counts.add(seat);
                if played.len() < recent {
                    played.push(PlayedGame {
                        room: game.room.clone(),
                        game: game.game.clone(),
                        version: game.version.clone(),
                        seat: seat.seat,
                        won: seat.won,
                        score: seat.score,
                        left: seat.left,
                        ended_at: game.ended_at,
                    });
                }
            }
        }
        let stats = PlayerStats::new(player.clone(), counts, played);
        Box::pin(std::future::ready(Ok(stats)))
    }

    fn games(&self, now_ms: u64) -> BoxFuture<'_, Result<Vec<GameStats>, StoreError>> {
        // Per version: games, of them in the last hour, first start, last end, duration sum.
        type Counts = (u64, u64, u64, u64, u64);
        let mut by: BTreeMap<(String, String), Counts> = BTreeMap::new();
        for g in &lock(&self.ended).summaries {
            let key = (g.game.clone(), g.version.clone());
            let e = by.entry(key).or_insert((0, 0, u64::MAX, 0, 0));
            e.0 += 1;
            e.1 += u64::from(g.ended_at >= now_ms.saturating_sub(3_600_000));
            e.2 = e.2.min(g.started_at);
            e.3 = e.3.max(g.ended_at);
            e.4 += g.duration_ms;
        }
        let stats = by
            .into_iter()
            .map(|(key, (n, hour, first, last, sum))| {
                GameStats::new(
                    key,
                    n,
                    hour,
                    last.saturating_sub(first),
                    sum as f64 / n as f64,
                )
            })
            .collect();
        Box::pin(std::future::ready(Ok(stats)))
    }

    fn purge(&self, before_ms: u64) -> BoxFuture<'_, Result<u64, StoreError>> {
        let mut ended = lock(&self.ended);
        let Ended { logs, summaries } = &mut *ended;
        let was = logs.len();
        logs.retain(|(room, _)| {
            let ended_at = summaries
                .iter()
                .find(|s| s.room == *room)
                .map(|s| s.ended_at);
            ended_at.is_none_or(|at| at >= before_ms)
        });
        let purged = (was - logs.len()) as u64;
        Box::pin(std::future::ready(Ok(purged)))
    }
}

/// Sessions in memory.
#[derive(Default)]
pub struct MemorySessions {
    sessions: Mutex<HashMap<Token, (StoredSession, u64)>>,
}

impl SessionStore for MemorySessions {
    fn insert(&self, session: StoredSession, now_ms: u64) -> BoxFuture<'_, Result<(), StoreError>> {
        lock(&self.sessions).insert(session.token.clone(), (session, now_ms));
        Box::pin(std::future::ready(Ok(())))
    }

    fn get<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredSession>, StoreError>> {
        let found = lock(&self.sessions).get(token).map(|(s, _)| s.clone());
        Box::pin(std::future::ready(Ok(found)))
    }

    fn touch(&self, token: &Token, now_ms: u64) {
        if let Some((_, used)) = lock(&self.sessions).get_mut(token) {
            *used = now_ms;
        }
    }

    fn expire(&self, before_ms: u64) -> BoxFuture<'_, Result<u64, StoreError>> {
        let mut sessions = lock(&self.sessions);
        let was = sessions.len();
        sessions.retain(|_, (_, used)| *used >= before_ms);
        let gone = (was - sessions.len()) as u64;
        Box::pin(std::future::ready(Ok(gone)))
    }
}

/// Module bytes in memory.
#[derive(Default)]
pub struct MemoryModules {
    modules: Mutex<HashMap<String, Vec<u8>>>,
    /// Kept modules' keys, oldest first.
    kept: Mutex<Vec<ModuleKey>>,
    active: Mutex<BTreeMap<String, String>>,
}

impl ModuleStore for MemoryModules {
    fn keep<'a>(
        &'a self,
        key: &'a ModuleKey,
        bytes: &'a [u8],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut modules = lock(&self.modules);
        if !modules.contains_key(&key.digest) {
            modules.insert(key.digest.clone(), bytes.to_vec());
            lock(&self.kept).push(key.clone());
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn load<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        let found = lock(&self.modules).get(digest).cloned();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn kept(&self) -> BoxFuture<'_, Result<Vec<ModuleKey>, StoreError>> {
        let kept = lock(&self.kept).clone();
        Box::pin(std::future::ready(Ok(kept)))
    }

    fn active_versions(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, StoreError>> {
        let active = lock(&self.active)
            .iter()
            .map(|(g, v)| (g.clone(), v.clone()))
            .collect();
        Box::pin(std::future::ready(Ok(active)))
    }

    fn set_active<'a>(
        &'a self,
        game: &'a str,
        version: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        lock(&self.active).insert(game.into(), version.into());
        Box::pin(std::future::ready(Ok(())))
    }
}
