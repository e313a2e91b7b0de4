//! `tabula modules ...`: the operators' and designers' command line for game versions, talking to
//! a running server's admin API (`docs/http.md`): list versions, push a module, activate a
//! version (new rooms, migrate, canary), roll back, follow a rollout with a progress bar.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Where the server is and how to get in.
#[derive(Args, Debug)]
pub struct ServerArgs {
    /// The server's admin address (the game port, or `admin_listen` when it is set).
    #[arg(long, default_value = "http://127.0.0.1:8080", global = true)]
    server: String,
    /// The admin token (also TABULA_ADMIN__TOKEN, as the server reads it).
    #[arg(
        long,
        env = "TABULA_ADMIN__TOKEN",
        hide_env_values = true,
        global = true
    )]
    token: Option<String>,
}

/// The `modules` subcommands.
#[derive(Subcommand, Debug)]
pub enum ModulesCommand {
    /// Every game, its versions (contract, rooms, failures) and the active one.
    List,
    /// Upload a module: a component, or the core module cargo builds
    /// (target/wasm32-unknown-unknown/release/NAME.wasm).
    Push {
        /// The .wasm file.
        file: PathBuf,
        /// Activate it at once: new-rooms, migrate or canary:PERCENT (and follow the rollout).
        #[arg(long)]
        activate: Option<String>,
    },
    /// Make VERSION the version of GAME that new rooms get; with `--policy migrate`, move the
    /// running rooms to it too (and follow the rollout).
    Activate {
        /// The game.
        game: String,
        /// The version.
        version: String,
        /// new-rooms (default), migrate, or canary:PERCENT (that share of rooms first, then all
        /// of them unless the version fails, in which case they go back).
        #[arg(long, default_value = "new-rooms")]
        policy: String,
        /// Move a room only if its recorded game replays under VERSION without diverging.
        #[arg(long)]
        shadow: bool,
    },
    /// Take GAME back to the version active before its last activation: new rooms get it, and
    /// every room moved from it goes back when it can (and follow the rollout).
    Rollback {
        /// The game.
        game: String,
    },
    /// Quarantine VERSION of GAME: it takes no new rooms, and its rooms move away (back where
    /// they came from, else to the active version) or are paused.
    Quarantine {
        /// The game.
        game: String,
        /// The version.
        version: String,
        /// Why (shown with the version and in paused rooms).
        #[arg(long)]
        reason: Option<String>,
    },
    /// A rollout's progress, live until it is done (default: the latest).
    Status {
        /// The rollout's id.
        id: Option<u64>,
    },
}

struct Admin {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Admin {
    fn new(args: &ServerArgs) -> anyhow::Result<Admin> {
        let Some(token) = args.token.clone() else {
            bail!("give the admin token: --token TOKEN, or TABULA_ADMIN__TOKEN");
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Ok(Admin {
            agent,
            base: args.server.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// The status and JSON body of a request; `body` is sent as it is.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            (_, Some((kind, bytes))) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", kind)
                .send(bytes),
            (_, None) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_empty(),
        };
        let mut response = response.with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .with_context(|| format!("reading the answer to {method} {url}"))?;
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, json))
    }

    /// `call`, with any status but 2xx turned into the server's error.
    fn ok(&self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> anyhow::Result<Value> {
        let (status, json) = self.call(method, path, body)?;
        if !(200..300).contains(&status) {
            let code = json["code"].as_str().unwrap_or("error");
            let message = json["message"]
                .as_str()
                .map_or(json.to_string(), str::to_owned);
            bail!("the server answered {status} {code}: {message}");
        }
        Ok(json)
    }
}

/// Runs a `modules` subcommand.
pub fn run(cmd: ModulesCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let admin = Admin::new(server)?;
    match cmd {
        ModulesCommand::List => {
            let list = admin.ok("GET", "/admin/modules", None)?;
            print_list(&list);
            Ok(ExitCode::SUCCESS)
        }
        ModulesCommand::Push { file, activate } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let path = match &activate {
                Some(policy) => format!("/admin/modules?activate={policy}"),
                None => "/admin/modules".into(),
            };
            let pushed = admin.ok("POST", &path, Some(("application/wasm", &bytes)))?;
            println!(
                "{}@{} {} (digest {}, contract {}{})",
                text(&pushed["name"]),
                text(&pushed["version"]),
                if pushed["installed"] == true {
                    "installed"
                } else {
                    "was installed already"
                },
                text(&pushed["digest"]),
                text(&pushed["contract"]),
                if pushed["converted"] == true {
                    ", made a component from the core module"
                } else {
                    ""
                }
            );
            match pushed["rollout"]["id"].as_u64() {
                Some(id) => follow(&admin, id),
                None => Ok(ExitCode::SUCCESS),
            }
        }
        ModulesCommand::Activate {
            game,
            version,
            policy,
            shadow,
        } => {
            let body =
                serde_json::json!({ "version": version, "policy": policy, "shadow": shadow })
                    .to_string();
            let status = admin.ok(
                "POST",
                &format!("/admin/modules/{game}/activate"),
                Some(("application/json", body.as_bytes())),
            )?;
            println!("{game}@{version} is active ({policy})");
            match status["id"].as_u64() {
                Some(id) => follow(&admin, id),
                None => Ok(ExitCode::SUCCESS),
            }
        }
        ModulesCommand::Rollback { game } => {
            let status = admin.ok("POST", &format!("/admin/modules/{game}/rollback"), None)?;
            println!("{game}@{} is active again", text(&status["version"]));
            match status["id"].as_u64() {
                Some(id) => follow(&admin, id),
                None => Ok(ExitCode::SUCCESS),
            }
        }
        ModulesCommand::Quarantine {
            game,
            version,
            reason,
        } => {
            let body = serde_json::json!({ "version": version, "reason": reason }).to_string();
            let status = admin.ok(
                "POST",
                &format!("/admin/modules/{game}/quarantine"),
                Some(("application/json", body.as_bytes())),
            )?;
            println!(
                "{game}@{version} is quarantined; {} rooms moved away, {} pinned or paused",
                status["migrated"],
                status["pinned"].as_array().map_or(0, Vec::len)
            );
            for p in status["pinned"].as_array().into_iter().flatten() {
                println!("  {}: {}", text(&p["room"]), text(&p["reason"]));
            }
            Ok(ExitCode::SUCCESS)
        }
        ModulesCommand::Status { id } => {
            let id = match id {
                Some(id) => id,
                None => {
                    let all = admin.ok("GET", "/admin/rollouts", None)?;
                    match all["rollouts"].as_array().and_then(|r| r.last()) {
                        Some(last) => last["id"].as_u64().unwrap_or(0),
                        None => {
                            println!("no rollout yet");
                            return Ok(ExitCode::SUCCESS);
                        }
                    }
                }
            };
            follow(&admin, id)
        }
    }
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

fn print_list(list: &Value) {
    for game in list["games"].as_array().into_iter().flatten() {
        println!("{} (active {})", text(&game["name"]), text(&game["active"]));
        for v in game["versions"].as_array().into_iter().flatten() {
            println!(
                "  {} {:<10} contract {}  rooms {:>5}  calls {:>8}  failures {:>5}  {}{}",
                if v["active"] == true { "*" } else { " " },
                text(&v["version"]),
                text(&v["contract"]),
                v["rooms"],
                v["calls"],
                v["failures"],
                text(&v["digest"]).get(..16).unwrap_or_default(),
                v["quarantined"]
                    .as_str()
                    .map_or(String::new(), |q| format!("  QUARANTINED: {q}")),
            );
        }
    }
}

/// Shows rollout `id` as a progress bar until it is done; exits non-zero when rooms stayed on
/// their version.
fn follow(admin: &Admin, id: u64) -> anyhow::Result<ExitCode> {
    let mut err = std::io::stderr();
    loop {
        let s = admin.ok("GET", &format!("/admin/rollouts/{id}"), None)?;
        let total = s["rooms"].as_u64().unwrap_or(0);
        let pending = s["pending"].as_u64().unwrap_or(0);
        let done = total - pending.min(total);
        let width: usize = 30;
        let filled = if total == 0 {
            width
        } else {
            (done as usize * width) / total as usize
        };
        let pinned = s["pinned"].as_array().map_or(0, Vec::len);
        let _ = write!(
            err,
            "\r{} {}@{} [{}{}] {done}/{total}  migrated {}  unchanged {}  pinned {pinned}  gone {} ",
            text(&s["state"]),
            text(&s["game"]),
            text(&s["version"]),
            "#".repeat(filled),
            ".".repeat(width - filled),
            s["migrated"],
            s["unchanged"],
            s["gone"],
        );
        let _ = err.flush();
        if !matches!(s["state"].as_str(), Some("running" | "watching")) {
            let _ = writeln!(err);
            for p in s["pinned"].as_array().into_iter().flatten() {
                println!("pinned {}: {}", text(&p["room"]), text(&p["reason"]));
            }
            if let Some(reason) = s["reason"].as_str() {
                println!("rolled back: {reason}");
            }
            return Ok(if pinned == 0 && s["state"] == "done" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
