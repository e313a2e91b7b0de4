//! Sessions and module bytes on both databases: tokens stored hashed, expiry, module bytes by
//! digest, the versions accepted and the active ones.

use super::*;

on_both!(
    session_tokens_are_stored_hashed,
    expire_forgets_unused_sessions,
    module_bytes_round_trip,
    accepted_versions_and_active_ones_survive_a_restart,
);

/// A session whose player and name do not contain its token.
pub(super) fn session(token: &str) -> StoredSession {
    StoredSession {
        token: Token::from_wire(token),
        player: PlayerId::from_wire(&format!("p-{}", token.chars().rev().collect::<String>())),
        name: "Ann".into(),
    }
}

async fn session_tokens_are_stored_hashed(db: TestDb) {
    // A session survives a restart, yet someone reading the database cannot take it over: the
    // table holds a hash of the token, never the token.
    let s = db.open().await;
    let token = "t-secretsecretsecretsecretsecret1";
    s.sessions
        .insert(session(token), 1_000)
        .await
        .expect("insert");
    let raw = db.raw().await;
    let rows: Vec<(String, String, String)> = each_db!(&raw, Db, pool => {
        sqlx::query_as("SELECT token_hash, player, name FROM sessions")
            .fetch_all(pool)
            .await
    })
    .expect("rows");
    assert_eq!(rows.len(), 1);
    let (hash, player, name) = &rows[0];
    assert!(![hash, player, name].iter().any(|c| c.contains(token)));
    assert_eq!(hash, &crate::store::sql::token_hash(token));
    drop(s);

    let s = db.open().await;
    assert_eq!(
        s.sessions.get(token).await.expect("get"),
        Some(session(token))
    );
    assert_eq!(s.sessions.get("t-unknown").await.expect("get"), None);
}

async fn expire_forgets_unused_sessions(db: TestDb) {
    // Sessions unused for too long are forgotten; using one keeps it.
    let s = db.open().await;
    s.sessions
        .insert(session("t-used"), 100)
        .await
        .expect("insert");
    s.sessions
        .insert(session("t-idle"), 200)
        .await
        .expect("insert");
    s.sessions.touch(&Token::from_wire("t-used"), 300);
    s.sessions.touch(&Token::from_wire("t-nobody"), 300);
    assert_eq!(s.sessions.expire(250).await.expect("expire"), 1);
    assert!(s.sessions.get("t-used").await.expect("get").is_some());
    assert!(s.sessions.get("t-idle").await.expect("get").is_none());
    assert_eq!(s.sessions.expire(250).await.expect("expire"), 0);
    assert_eq!(s.sessions.expire(301).await.expect("expire"), 1);
}

async fn module_bytes_round_trip(db: TestDb) {
    // A module's bytes are kept once by digest and read back after a restart, so a game is
    // rebuilt under the module that played it.
    let s = db.open().await;
    let key = ModuleKey {
        name: "tic-tac-toe".into(),
        version: "1.0.0".into(),
        digest: "cd".repeat(32),
    };
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    s.modules.keep(&key, &bytes).await.expect("keep");
    s.modules.keep(&key, b"other").await.expect("keep again");
    drop(s);
    let s = db.open().await;
    assert_eq!(
        s.modules.load(&key.digest).await.expect("load"),
        Some(bytes)
    );
    assert_eq!(s.modules.load("ef").await.expect("load"), None);
}

async fn accepted_versions_and_active_ones_survive_a_restart(db: TestDb) {
    // The versions a server accepted are listed oldest first after a restart, and each game's
    // active version is the one an operator set last.
    let s = db.open().await;
    let key = |version: &str, d: &str| ModuleKey {
        name: "tic-tac-toe".into(),
        version: version.into(),
        digest: d.repeat(64),
    };
    let (old, new) = (key("1.0.0", "a"), key("1.1.0", "b"));
    s.modules.keep(&old, b"old").await.expect("keep");
    s.modules.keep(&new, b"new").await.expect("keep");
    s.modules.keep(&old, b"old").await.expect("keep again");
    assert_eq!(s.modules.active_versions().await.expect("read"), []);
    s.modules
        .set_active("tic-tac-toe", "1.0.0")
        .await
        .expect("set");
    s.modules
        .set_active("tic-tac-toe", "1.1.0")
        .await
        .expect("set again");
    s.modules.set_active("nim", "2.0.0").await.expect("set");
    drop(s);
    let s = db.open().await;
    assert_eq!(s.modules.kept().await.expect("read"), [old, new]);
    assert_eq!(
        s.modules.active_versions().await.expect("read"),
        [
            ("nim".to_owned(), "2.0.0".to_owned()),
            ("tic-tac-toe".to_owned(), "1.1.0".to_owned())
        ]
    );
}
