//! Test support for the SQL store: a database of its own for each test — a fresh SQLite file,
//! or a fresh schema on the PostgreSQL server of `DATABASE_URL` — so that tests run in
//! parallel, and the one rule for tests that need a server (see [`postgres_url`]).
//!
//! Owns: the test databases' lifetimes (a schema is dropped when its test ends, even by a
//! panic). Must not touch: the store's code paths — tests open storage by URL like a server.

use super::Db;
use crate::config::DatabaseConfig;
use crate::metrics::Metrics;
use crate::store::Storage;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::sqlite::SqlitePoolOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::str::FromStr;

/// The PostgreSQL server tests use: `DATABASE_URL`. When it is unset or unreachable the test is
/// skipped, with a line saying so (`None`) — unless `TEST_REQUIRE_SERVICES=1`, which makes
/// either a failure, so that a CI job that means to test PostgreSQL cannot pass without it.
pub(crate) async fn postgres_url(test: &str) -> Option<String> {
    let required = std::env::var("TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
    let skip = |why: String| {
        assert!(!required, "{test}: {why}, and TEST_REQUIRE_SERVICES=1");
        // Straight to the process's stderr: the test harness captures `eprintln!`, and a
        // skip must be seen without --nocapture.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: {why} (PostgreSQL tests need a server)"
        );
        None
    };
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => return skip("DATABASE_URL is not set".into()),
    };
    match PgConnection::connect(&url).await {
        Ok(conn) => {
            let _ = conn.close().await;
            Some(url)
        }
        Err(e) => skip(format!("cannot connect to DATABASE_URL: {e}")),
    }
}

/// A database for one test.
pub(crate) enum TestDb {
    /// A file in a temporary directory (removed with it).
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    /// A schema of its own on the test server.
    Postgres(PgSchema),
}

impl TestDb {
    /// A fresh SQLite file, in directories that do not exist yet (open creates them).
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}/data/db/tabula.db", dir.path().display());
        TestDb::Sqlite { _dir: dir, url }
    }

    /// A fresh schema on the test server; `None` when the test is skipped (see
    /// [`postgres_url`]).
    pub async fn postgres(test: &str) -> Option<TestDb> {
        let url = postgres_url(test).await?;
        Some(TestDb::Postgres(PgSchema::create(&url).await))
    }

    /// The URL a server would be given.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { url, .. } => url.clone(),
            TestDb::Postgres(schema) => schema.url.clone(),
        }
    }

    /// Opens the storage with `cfg`.
    pub async fn open_with(&self, cfg: &DatabaseConfig) -> Storage {
        Storage::open(&self.url(), cfg, &Metrics::new())
            .await
            .expect("open the storage")
    }

    /// Opens the storage with the default settings.
    pub async fn open(&self) -> Storage {
        self.open_with(&DatabaseConfig::default()).await
    }

    /// A pool of its own on the database, for looking at the tables behind the store's back.
    pub async fn raw(&self) -> Db {
        match self {
            TestDb::Sqlite { url, .. } => Db::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(2)
                    .connect(url)
                    .await
                    .expect("raw SQLite pool"),
            ),
            TestDb::Postgres(schema) => Db::Postgres(
                PgPoolOptions::new()
                    .max_connections(2)
                    .connect(&schema.url)
                    .await
                    .expect("raw PostgreSQL pool"),
            ),
        }
    }
}

/// A schema created for one test, dropped (with everything in it) when this is dropped.
pub(crate) struct PgSchema {
    /// The server's URL.
    server: String,
    /// The schema's name.
    name: String,
    /// The server's URL with the schema as the search path: what the store is given.
    pub url: String,
}

impl PgSchema {
    async fn create(server: &str) -> PgSchema {
        let name = format!("tabula_test_{:016x}", crate::ids::random_u64());
        let mut conn = PgConnection::connect(server)
            .await
            .expect("connect to DATABASE_URL");
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut conn)
            .await
            .expect("create a test schema");
        let _ = conn.close().await;
        let sep = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{sep}options=-c%20search_path%3D{name}");
        PgSchema {
            server: server.into(),
            name,
            url,
        }
    }

    /// The schema's URL, reaching the server through `proxy` instead.
    pub fn url_via(&self, proxy: SocketAddr) -> String {
        with_authority_host(&self.url, &proxy.to_string())
    }

    /// The server's address (for a proxy to forward to).
    pub async fn server_addr(&self) -> SocketAddr {
        let options = PgConnectOptions::from_str(&self.server).expect("DATABASE_URL parses");
        tokio::net::lookup_host((options.get_host(), options.get_port()))
            .await
            .expect("resolve the server's host")
            .next()
            .expect("the server's host has an address")
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // Dropping runs inside the test's runtime, which cannot be blocked on: a thread of its
        // own with a runtime of its own does the dropping.
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut conn = PgConnection::connect(&server).await.ok()?;
                sqlx::query("SET lock_timeout = '10s'")
                    .execute(&mut conn)
                    .await
                    .ok()?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop the test schema {}", self.name);
        }
    }
}

/// `url` with the host and port of its authority replaced by `host`.
fn with_authority_host(url: &str, host: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.into();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let user = authority.rsplit_once('@').map(|(u, _)| format!("{u}@"));
    format!("{scheme}://{}{host}{tail}", user.unwrap_or_default())
}

#[test]
fn authority_swaps_keep_the_rest() {
    // A URL through a proxy differs from the original in its host and port only.
    assert_eq!(
        with_authority_host("postgres://u@127.0.0.1:5432/test?x=1", "127.0.0.1:9"),
        "postgres://u@127.0.0.1:9/test?x=1"
    );
    assert_eq!(
        with_authority_host("postgres://localhost/db", "127.0.0.1:9"),
        "postgres://127.0.0.1:9/db"
    );
}
