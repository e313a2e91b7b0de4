//! `tabula inspect ROOM [--seq N]`: the state of a game at any step, rebuilt from a server's
//! database (its event log and the exact module that played it), every step checked against its
//! recorded hash. Prints one JSON object.

use super::replay_cmd::{ModuleSource, module_for, swap_target};
use crate::ids::RoomId;
use crate::replay::{self, GameRecord, RecordedInput};
use crate::rules::{Limits, Runtime, RuntimeConfig, Viewer};
use crate::store::SeatChange;
use anyhow::Context;
use clap::Args;
use std::path::Path;
use std::process::ExitCode;

/// Flags of `tabula inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The room id (`r-...`).
    room: String,
    /// The step to stop at (1 is the start) [default: the last recorded].
    #[arg(long)]
    seq: Option<u64>,
    /// The server's database [default: sqlite://DATA_DIR/tabula.db; also TABULA_DATABASE__URL].
    #[arg(long)]
    database_url: Option<String>,
}

/// Rebuilds the game and prints it at the step asked for.
pub fn run(args: InspectArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let url = args
        .database_url
        .or_else(|| std::env::var("TABULA_DATABASE__URL").ok())
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("tabula.db").display()));
    let room = RoomId::from_wire(&args.room);
    let log = tokio::runtime::Runtime::new()?.block_on(async {
        let metrics = crate::metrics::Metrics::new();
        let storage =
            crate::store::Storage::open(&url, &crate::config::DatabaseConfig::default(), &metrics)
                .await?;
        let log = storage.log.read(&room).await?;
        anyhow::Ok(log)
    })?;
    let Some(log) = log else {
        anyhow::bail!("the database at {url} has no game {room}");
    };
    let Some(mut record) = GameRecord::from_log(&log) else {
        let out = serde_json::json!({
            "room": room,
            "game": log.header.module.name,
            "version": log.header.module.version,
            "seq": 0,
            "status": "waiting",
            "entries": log.entries.len(),
        });
        println!("{out}");
        return Ok(ExitCode::SUCCESS);
    };
    let last_seq = log.entries.last().map_or(0, |(_, e)| e.seq);
    let seq = args.seq.unwrap_or(last_seq);
    if seq == 0 || seq > last_seq {
        anyhow::bail!("{room} has steps 1 to {last_seq}; there is no step {seq}");
    }
    // Keep the inputs up to the one that made step `seq` (the start is step 1).
    let mut steps = 1;
    let keep = record
        .inputs
        .iter()
        .position(|i| {
            if !matches!(i, RecordedInput::Seat { .. }) {
                steps += 1;
            }
            steps > seq
        })
        .unwrap_or(record.inputs.len());
    record.inputs.truncate(keep);
    let mut seats: Vec<serde_json::Value> =
        vec![serde_json::Value::from("open"); record.seats as usize];
    for input in &record.inputs {
        if let RecordedInput::Seat { seat, change, .. } = input
            && let Some(s) = seats.get_mut(*seat as usize)
        {
            *s = match change {
                SeatChange::Human { player, name } => {
                    serde_json::json!({"human": {"player": player, "name": name}})
                }
                SeatChange::Left => {
                    let mut left = s.clone();
                    left["left"] = true.into();
                    left
                }
                other => serde_json::to_value(other).unwrap_or_default(),
            };
        }
    }
    let runtime = Runtime::new(RuntimeConfig {
        limits: Limits::default(),
        cache_dir: Some(data_dir.join("modules")),
    })?;
    let from = ModuleSource {
        spec: None,
        database_url: Some(&url),
    };
    let module = module_for(&record, &from, &runtime)?;
    let swapped = |to: &crate::replay::ModuleRef| swap_target(to, &from, &runtime);
    let step = replay::run_across(&module, &record, &swapped, |_| {})
        .with_context(|| format!("rebuilding {room} to step {seq}"))?;
    let json = |text: &str| {
        serde_json::from_str::<serde_json::Value>(text)
            .unwrap_or_else(|_| serde_json::Value::String(text.into()))
    };
    let out = serde_json::json!({
        "room": room,
        "game": record.module.name,
        "version": record.module.version,
        "digest": record.module.digest,
        "seq": seq,
        "last_seq": last_seq,
        "status": if step.result.is_some() { "finished" } else { "running" },
        "phase": step.phase,
        "awaiting": step.awaiting,
        "wake_at": step.wake_at,
        "result": step.result.as_deref().map(json),
        "seats": seats,
        "state_hash": replay::hash_text(crate::store::state_hash(&step.state)),
        "view": step.view_for(Viewer::Spectator).map(json),
    });
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}
