//! The configuration's layers and checks.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn layers_apply_in_order_file_env_flags() {
    // An operator's file is overridden by the environment, and both by flags.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tabula.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9000\"\n[room]\nbot_think_ms = 5\ninbox_capacity = 7\n",
    )
    .expect("write");
    let flags = FlagOverrides {
        listen: Some("127.0.0.1:9100".parse().expect("addr")),
        ..FlagOverrides::default()
    };
    let c = Config::load(
        Some(&file),
        env(&[
            ("TABULA_ROOM__BOT_THINK_MS", "0"),
            ("TABULA_LOG", "debug"),
            ("HOME", "/x"),
        ]),
        &flags,
    )
    .expect("valid");
    assert_eq!(c.listen.port(), 9100);
    assert_eq!(c.room.bot_think_ms, 0);
    assert_eq!(c.room.inbox_capacity, 7);
    assert_eq!(c.connection, ConnectionConfig::default());
}

#[test]
fn retention_and_admin_token_are_read_and_checked() {
    // An operator sets retention and the admin token by environment; a short token or a
    // misspelt retention stops the server with the key's name, and the token never shows.
    let c = Config::load(
        None,
        env(&[
            ("TABULA_ARCHIVE__RETENTION", "30d"),
            ("TABULA_ADMIN__TOKEN", "an-operator-secret-123"),
        ]),
        &FlagOverrides::default(),
    )
    .expect("valid");
    assert_eq!(c.archive.retention, crate::store::Retention::Days(30));
    assert_eq!(c.admin.token.as_deref(), Some("an-operator-secret-123"));
    assert!(!format!("{c:?}").contains("an-operator-secret"));
    let err = Config::load(
        None,
        env(&[("TABULA_ADMIN__TOKEN", "short")]),
        &FlagOverrides::default(),
    )
    .expect_err("short token");
    assert!(err.to_string().contains("admin.token"), "{err}");
    let err = Config::load(
        None,
        env(&[("TABULA_ARCHIVE__RETENTION", "a month")]),
        &FlagOverrides::default(),
    )
    .expect_err("bad retention");
    assert!(err.to_string().contains("30d"), "{err}");
}

#[test]
fn unknown_keys_and_bad_values_are_refused_with_their_name() {
    // A typo in a key or an impossible value stops the server with a message naming it.
    let err = Config::load(
        None,
        env(&[("TABULA_ROOM__BOT_THINK", "0")]),
        &FlagOverrides::default(),
    )
    .expect_err("unknown key");
    assert!(err.to_string().contains("bot_think"), "{err}");
    let err = Config::load(
        None,
        env(&[("TABULA_ROOM__INBOX_CAPACITY", "0")]),
        &FlagOverrides::default(),
    )
    .expect_err("zero");
    assert!(err.to_string().contains("room.inbox_capacity"), "{err}");
    let err = Config::load(
        None,
        env(&[("TABULA_LISTEN", "nowhere")]),
        &FlagOverrides::default(),
    )
    .expect_err("bad address");
    assert!(err.to_string().contains("environment"), "{err}");
}
