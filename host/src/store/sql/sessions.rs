//! Sessions and module bytes on SQL: [`SessionStore`] and [`ModuleStore`].
//!
//! Owns: the hashing of tokens (the tables key sessions on the SHA-256 of the token, never the
//! token) and the awaited writes' answers. Must not touch: live sessions, rooms.
//!
//! Writes go through the writer task like the log's, so that they share its commits and its
//! retries; those a caller awaits (a new session, module bytes, an expiry) are refused at once
//! while the queue is not accepting, so that a caller never waits out an outage. Reads go
//! straight to the readers' pool: they are off the rooms' path.

use super::queue::{ExpireItem, Inlet, Item, ModuleItem, SessionItem};
use super::{Db, db_error, now_ms, token_hash};
use crate::ids::{PlayerId, Token};
use crate::store::{BoxFuture, ModuleKey, ModuleStore, SessionStore, StoreError, StoredSession};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Queues `item` (built around the sender of its answer) and waits for the answer.
pub(super) async fn awaited<T>(
    inlet: &Inlet,
    item: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Item,
) -> Result<T, StoreError> {
    if !inlet.accepting() {
        return Err(StoreError::Database(
            "the database is down or behind: writes are refused for now".into(),
        ));
    }
    let (done, answer) = oneshot::channel();
    inlet.push(item(done));
    answer
        .await
        .map_err(|_| StoreError::Database("the database writer has stopped".into()))?
}

/// Sessions in the database.
pub(super) struct SqlSessions {
    inlet: Arc<Inlet>,
    reads: Db,
}

impl SqlSessions {
    pub fn new(inlet: Arc<Inlet>, reads: Db) -> SqlSessions {
        SqlSessions { inlet, reads }
    }
}

impl SessionStore for SqlSessions {
    fn insert(&self, session: StoredSession, now_ms: u64) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(awaited(&self.inlet, move |done| {
            Item::Session(Box::new(SessionItem {
                token_hash: token_hash(session.token.as_str()),
                player: session.player.as_str().into(),
                name: session.name,
                at: now_ms,
                done,
            }))
        }))
    }

    fn get<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredSession>, StoreError>> {
        Box::pin(async move {
            let hash = token_hash(token);
            let sql = "SELECT player, name FROM sessions WHERE token_hash = $1";
            let row: Option<(String, String)> = each_db!(&self.reads, Db, pool => {
                sqlx::query_as(sql).bind(hash.as_str()).fetch_optional(pool).await
            })
            .map_err(db_error)?;
            Ok(row.map(|(player, name)| StoredSession {
                token: Token::from_wire(token),
                player: PlayerId::from_wire(&player),
                name,
            }))
        })
    }

    fn touch(&self, token: &Token, now_ms: u64) {
        self.inlet.touch(token_hash(token.as_str()), now_ms);
    }

    fn expire(&self, before_ms: u64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(awaited(&self.inlet, move |done| {
            Item::Expire(ExpireItem {
                before: before_ms,
                done,
            })
        }))
    }
}

/// Module bytes in the database.
pub(super) struct SqlModules {
    inlet: Arc<Inlet>,
    reads: Db,
}

impl SqlModules {
    pub fn new(inlet: Arc<Inlet>, reads: Db) -> SqlModules {
        SqlModules { inlet, reads }
    }
}

impl ModuleStore for SqlModules {
    fn keep<'a>(
        &'a self,
        key: &'a ModuleKey,
        bytes: &'a [u8],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(awaited(&self.inlet, move |done| {
            Item::Module(Box::new(ModuleItem {
                key: key.clone(),
                bytes: bytes.to_vec(),
                at: now_ms(),
                done,
            }))
        }))
    }

    fn load<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let sql = "SELECT bytes FROM modules WHERE digest = $1";
            let row: Option<(Vec<u8>,)> = each_db!(&self.reads, Db, pool => {
                sqlx::query_as(sql).bind(digest).fetch_optional(pool).await
            })
            .map_err(db_error)?;
            Ok(row.map(|(bytes,)| bytes))
        })
    }

    fn kept(&self) -> BoxFuture<'_, Result<Vec<ModuleKey>, StoreError>> {
        Box::pin(async move {
            let sql = "SELECT name, version, digest FROM modules ORDER BY added_at, digest";
            let rows: Vec<(String, String, String)> = each_db!(&self.reads, Db, pool => {
                sqlx::query_as(sql).fetch_all(pool).await
            })
            .map_err(db_error)?;
            Ok(rows
                .into_iter()
                .map(|(name, version, digest)| ModuleKey {
                    name,
                    version,
                    digest,
                })
                .collect())
        })
    }

    fn active_versions(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, StoreError>> {
        Box::pin(async move {
            let sql = "SELECT game, version FROM active_versions ORDER BY game";
            each_db!(&self.reads, Db, pool => {
                sqlx::query_as(sql).fetch_all(pool).await
            })
            .map_err(db_error)
        })
    }

    fn set_active<'a>(
        &'a self,
        game: &'a str,
        version: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let sql = "INSERT INTO active_versions (game, version, set_at) VALUES ($1, $2, $3) \
                       ON CONFLICT (game) DO UPDATE SET version = excluded.version, \
                       set_at = excluded.set_at";
            let at = now_ms() as i64;
            each_db!(&self.reads, Db, pool => {
                sqlx::query(sql).bind(game).bind(version).bind(at).execute(pool).await.map(|_| ())
            })
            .map_err(db_error)?;
            Ok(())
        })
    }
}
