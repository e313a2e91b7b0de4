//! The browser client in a real browser (headless Chromium over WebDriver): a person plays Liap
//! Tui against three bots through the page, reloads mid-game and carries on, and sees the end.
//! Skips with a message when Chromium is not installed (fails in CI, which installs it).

use std::time::{Duration, Instant};
use tabula_tests::TestServer;
use tabula_tests::browser::{Browser, PAGE_PATIENCE, Page, hook};

/// Signs in on the page as `name` (a fresh profile has no token yet).
async fn sign_in(page: &Page, base: &str, name: &str) {
    page.open(base).await;
    page.fill(&hook("name"), name).await;
    page.click(&hook("sign-in")).await;
    page.wait_text(&hook("conn"), |t| t.to_lowercase().contains("connected"))
        .await;
}

/// Creates a room of Liap Tui `version` with `bots` bots and `options` through the lobby's form.
async fn create_liap_tui(page: &Page, version: &str, bots: u32, options: &str) {
    let game = page.wait_for(&hook("create-game")).await;
    game.select_by_value("liap-tui")
        .await
        .expect("liap-tui offered");
    let select = page.wait_for(&hook("create-version")).await;
    select
        .select_by_value(version)
        .await
        .expect("version offered");
    page.fill(&hook("create-bots"), &bots.to_string()).await;
    page.fill(&hook("create-options"), options).await;
    page.click(&hook("create")).await;
}

/// Makes one move through the page if the game waits for this player; true once it is over.
async fn play_a_little(page: &Page) -> bool {
    if !page.visible(&hook("game-over")).await.is_empty() {
        return true;
    }
    if let Some(no) = page.visible(&hook("redeal-no")).await.into_iter().next() {
        let _ = no.click().await;
        return false;
    }
    for b in page.visible(&hook("declare")).await {
        if b.is_enabled().await.unwrap_or(false) {
            let _ = b.click().await;
            return false;
        }
    }
    let Some(play) = page.visible(&hook("play")).await.into_iter().next() else {
        return false;
    };
    // A lead: pick the first valid lead the page suggests; a follow: any pieces, one by one,
    // until the page lets the play go.
    if let Some(summary) = page.visible(".leads summary").await.into_iter().next() {
        let _ = summary.click().await;
        if let Some(first) = page
            .visible(&hook("suggested-play"))
            .await
            .into_iter()
            .next()
        {
            let _ = first.click().await;
        }
    } else {
        for piece in page.visible(&hook("piece")).await {
            if play.is_enabled().await.unwrap_or(false) {
                break;
            }
            let _ = piece.click().await;
        }
    }
    // The page re-renders: find the button again.
    if let Some(play) = page.visible(&hook("play")).await.into_iter().next()
        && play.is_enabled().await.unwrap_or(false)
    {
        let _ = play.click().await;
    }
    false
}

#[tokio::test]
async fn a_person_plays_liap_tui_against_three_bots_in_the_browser_and_reloads_midway() {
    let Some(mut browser) = Browser::start("browser::liap_tui").await else {
        return;
    };
    let s = TestServer::start().await;
    let base = format!("http://{}/", s.addr());
    let page = browser.window().await;
    sign_in(&page, &base, "Ann <b>").await;
    page.wait_for(&hook("lobby")).await;
    page.screenshot("lobby").await;

    // A room of Liap Tui with three bots, one round, no display delays (version 2 lists the
    // valid leads in its views and has the round limit).
    create_liap_tui(&page, "2.0.0", 3, r#"{"pace": "instant", "max_rounds": 1}"#).await;
    page.wait_for(&hook("hand")).await;
    // The name is shown as text, never as markup.
    let body = page.text("body").await;
    assert!(body.contains("Ann <b>"), "the name as typed: {body}");

    let started = Instant::now();
    let mut moves = 0;
    let mut reloaded = false;
    loop {
        assert!(
            started.elapsed() < PAGE_PATIENCE * 6,
            "the game did not end in time"
        );
        if play_a_little(&page).await {
            break;
        }
        moves += 1;
        if moves == 6 && !reloaded {
            page.screenshot("table").await;
            // A reload mid-game: the page comes back to the same table.
            page.client.refresh().await.expect("reload");
            page.wait_for(&hook("hand")).await;
            reloaded = true;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(reloaded, "the game ended before the reload");
    // The seed, told once the game is over, so that it can be replayed.
    page.wait_text("#seed", |t| {
        !t.is_empty() && t.chars().all(|c| c.is_ascii_digit())
    })
    .await;
    let over = page.text(&hook("game-over")).await;
    assert!(over.contains("Winner"), "{over}");
    page.screenshot("game-over").await;

    // The game's record, downloaded with the player's own credentials: the game as played.
    page.click(&hook("record")).await;
    let (name, bytes) = page.downloaded().await;
    let record: serde_json::Value = serde_json::from_slice(&bytes).expect("the record is JSON");
    assert!(name.ends_with(".json"), "{name}");
    assert_eq!(record["module"]["name"], "liap-tui", "{name}");
    assert_eq!(record["module"]["version"], "2.0.0");
    let seed = page.text("#seed").await;
    assert_eq!(
        record["seed"].to_string(),
        seed,
        "the page shows the record's seed"
    );

    // The server goes away: the page says it is reconnecting.
    s.server.stop().await.expect("stops");
    page.wait_text(&hook("conn"), |t| t.to_lowercase().contains("reconnecting"))
        .await;
    page.close().await;
}

#[tokio::test]
async fn two_people_a_spectator_and_an_operator_who_upgrades_the_game_midway() {
    let Some(mut browser) = Browser::start("browser::two_people").await else {
        return;
    };
    const ADMIN: &str = "an-admin-token-for-the-console";
    let s = TestServer::start_with(|c| c.admin.token = Some(ADMIN.into())).await;
    let base = format!("http://{}/", s.addr());

    // Ann makes a room of Liap Tui 1.0.0 (the active version) for two people and two bots.
    let ann = browser.window().await;
    sign_in(&ann, &base, "Ann").await;
    create_liap_tui(&ann, "1.0.0", 2, r#"{"pace": "instant", "win_score": 1}"#).await;
    ann.wait_for(&hook("room-version")).await;

    // Bob, in another browser, finds it in the lobby and joins: the game starts.
    let bob = browser.window().await;
    sign_in(&bob, &base, "Bob").await;
    bob.click(&format!("{} {}", hook("room-row"), hook("join")))
        .await;
    bob.wait_for(&hook("hand")).await;
    ann.wait_for(&hook("hand")).await;

    // A spectator sees the table, never a hand.
    let eve = browser.window().await;
    sign_in(&eve, &base, "Eve").await;
    eve.click(&format!("{} {}", hook("room-row"), hook("watch")))
        .await;
    eve.wait_text(&hook("room-version"), |t| t.contains("1.0.0"))
        .await;
    eve.wait_for(&hook("scores")).await;
    assert!(
        eve.all(&hook("hand")).await.is_empty(),
        "a spectator has no hand"
    );
    assert!(eve.all(&hook("piece")).await.is_empty(), "nor pieces");

    // The operator moves running games to 2.0.0 from the console.
    let op = browser.window().await;
    op.open(&format!("{base}console/")).await;
    op.fill(&hook("admin-token"), ADMIN).await;
    op.click(&hook("admin-save")).await;
    let row = format!(
        "{}[data-game=\"liap-tui\"][data-version=\"2.0.0\"]",
        hook("module-version")
    );
    op.wait_for(&row).await;
    let policy = op.wait_for(&format!("{row} {}", hook("policy"))).await;
    policy.select_by_value("migrate").await.expect("migrate");
    op.click(&format!("{row} {}", hook("activate"))).await;
    op.wait_text(&hook("rollout-state"), |t| t.contains("done"))
        .await;
    op.screenshot("console").await;

    // Both players' pages (and the spectator's) show the new version, without a reload.
    for page in [&ann, &bob, &eve] {
        page.wait_text(&hook("room-version"), |t| t.contains("2.0.0"))
            .await;
    }

    // The operator looks into the room (its state, views and log) and pauses it: the players'
    // pages say so; resumed, the game goes on.
    op.click(&hook("rooms-apply")).await;
    op.click(&format!("{} {}", hook("admin-room-row"), hook("inspect")))
        .await;
    op.wait_for(&hook("state-hash")).await;
    op.wait_text(&hook("room-log"), |t| !t.trim().is_empty())
        .await;
    // Every seat's view and the spectators'; a seat's shows its hand.
    assert_eq!(op.all(&hook("room-view")).await.len(), 5);
    op.click(&format!("{}[data-viewer=\"0\"] summary", hook("room-view")))
        .await;
    op.wait_text(&hook("room-view"), |t| t.contains("hand"))
        .await;
    op.click(&hook("pause")).await;
    op.fill(&hook("ask-reason"), "looking at it").await;
    op.click(&hook("ask-ok")).await;
    for page in [&ann, &bob] {
        page.wait_text(&hook("room-status"), |t| t.contains("paused"))
            .await;
    }
    op.click(&hook("resume")).await;
    for page in [&ann, &bob] {
        page.wait_text(&hook("room-status"), |t| t.contains("running"))
            .await;
    }

    // They play on against each other to the end.
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < PAGE_PATIENCE * 6,
            "the game did not end"
        );
        let a = play_a_little(&ann).await;
        let b = play_a_little(&bob).await;
        if a && b {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eve.wait_for(&hook("game-over")).await;
    for p in [ann, bob, eve, op] {
        p.close().await;
    }
}

#[tokio::test]
async fn any_game_plays_on_the_generic_table_on_a_phone_with_the_keyboard() {
    let Some(mut browser) = Browser::start("browser::generic_table").await else {
        return;
    };
    // The bot takes its time: long enough to try a move out of turn.
    let s = TestServer::start_with(|c| c.room.bot_think_ms = 1_500).await;
    let base = format!("http://{}/", s.addr());
    // A phone-sized window.
    let page = browser.window_sized(375, 812).await;
    page.open(&base).await;
    // Signed in from the keyboard: the name, then Enter.
    let name = page.wait_for(&hook("name")).await;
    name.send_keys("Kim\u{E007}").await.expect("type");
    page.wait_text(&hook("conn"), |t| t.to_lowercase().contains("connected"))
        .await;
    page.wait_for(&hook("lobby")).await;
    assert!(!page.overflows_sideways().await, "the lobby fits a phone");

    let game = page.wait_for(&hook("create-game")).await;
    game.select_by_value("tic-tac-toe").await.expect("offered");
    let version = page.wait_for(&hook("create-version")).await;
    version
        .select_by_value("1.2.0")
        .await
        .expect("1.2.0 offered");
    page.fill(&hook("create-bots"), "1").await;
    page.click(&hook("create")).await;
    page.wait_for(&hook("legal-action")).await;
    assert!(!page.overflows_sideways().await, "the table fits a phone");

    // An action the rules refuse, typed as JSON: the rule's own words.
    page.fill(&hook("action-json"), r#"{"cell": 99}"#).await;
    page.click(&hook("send-action")).await;
    page.wait_text(&hook("message"), |t| t.contains("numbered 0 to 8"))
        .await;
    // One the game cannot read.
    page.fill(&hook("action-json"), r#"{"square": 1}"#).await;
    page.click(&hook("send-action")).await;
    page.wait_text(&hook("message"), |t| {
        !t.contains("numbered 0 to 8") && !t.trim().is_empty()
    })
    .await;
    page.screenshot("generic-table").await;

    // A move, then another before the bot's: not this player's turn.
    page.click(&hook("legal-action")).await;
    page.fill(&hook("action-json"), r#"{"cell": 8}"#).await;
    page.click(&hook("send-action")).await;
    page.wait_text(&hook("message"), |t| t.contains("not your turn"))
        .await;

    // The buttons the view lists, until the game is over.
    let started = Instant::now();
    while page.visible(&hook("game-over")).await.is_empty() {
        assert!(
            started.elapsed() < PAGE_PATIENCE * 3,
            "the game did not end"
        );
        if let Some(b) = page.visible(&hook("legal-action")).await.into_iter().next() {
            let _ = b.click().await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    page.close().await;
}

#[tokio::test]
async fn the_console_uploads_activates_rolls_back_and_quarantines() {
    let Some(mut browser) = Browser::start("browser::console").await else {
        return;
    };
    const ADMIN: &str = "an-admin-token-for-the-console";
    let s = TestServer::start_with(|c| c.admin.token = Some(ADMIN.into())).await;
    let op = browser.window().await;
    op.open(&format!("http://{}/console/", s.addr())).await;
    op.fill(&hook("admin-token"), ADMIN).await;
    op.click(&hook("admin-save")).await;
    op.wait_text(&hook("counters"), |t| {
        t.contains("Rooms") || t.contains("rooms")
    })
    .await;

    // Upload a new version of the hostile fixture (1.1.0, from the bundle) as a file.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("hostile-1.1.0.wasm");
    std::fs::write(&file, tabula_bundle::HOSTILE_MIGRATE_FAILS).expect("write");
    let input = op.wait_for(&hook("upload")).await;
    input
        .send_keys(&file.display().to_string())
        .await
        .expect("file chosen");
    op.click(&hook("upload-submit")).await;
    op.wait_text(&hook("upload-result"), |t| t.contains("1.1.0"))
        .await;
    let row = |v: &str| {
        format!(
            "{}[data-game=\"hostile\"][data-version=\"{v}\"]",
            hook("module-version")
        )
    };
    op.wait_for(&row("1.1.0")).await;
    let game = format!("{}[data-game=\"hostile\"]", hook("module-game"));

    // Activated for new rooms, then rolled back.
    op.click(&format!("{} {}", row("1.1.0"), hook("activate")))
        .await;
    op.wait_text(&game, |t| t.contains("active 1.1.0")).await;
    op.click(&format!("{game} {}", hook("rollback"))).await;
    op.wait_text(&game, |t| t.contains("active 1.0.0")).await;

    // Quarantined with a reason, which the list shows.
    op.click(&format!("{} {}", row("1.1.0"), hook("quarantine")))
        .await;
    op.fill(&hook("ask-reason"), "bad build").await;
    op.click(&hook("ask-ok")).await;
    op.wait_text(&row("1.1.0"), |t| t.contains("bad build"))
        .await;
    let (_, body) = tabula_tests::http(s.addr(), "GET", "/admin/modules", Some(ADMIN)).await;
    assert!(body.contains("bad build"), "{body}");
    op.close().await;
}
