//! `tabula replay FILE`: run a recorded game through its module and print every step.

use crate::modules;
use crate::replay::{self, GameRecord};
use crate::rules::{Limits, Runtime, RuntimeConfig};
use anyhow::Context;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Replays the record in `file` and prints one JSON line per step (start first): the input, the
/// phase, whom the game awaits, the next wake-up, the events and the spectator view.
pub fn run(file: &Path, module: Option<&str>, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let record: GameRecord = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a game record", file.display()))?;
    let spec = module.unwrap_or(&record.module.name);
    let runtime = Runtime::new(RuntimeConfig {
        limits: Limits::default(),
        cache_dir: Some(data_dir.join("modules")),
    })?;
    let module = runtime
        .load(&modules::resolve(spec)?)
        .with_context(|| format!("loading {spec}"))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write_error = None;
    let outcome = replay::run(&module, &record, |r| {
        let json = |text: &str| {
            serde_json::from_str::<serde_json::Value>(text)
                .unwrap_or_else(|_| serde_json::Value::String(text.into()))
        };
        let line = serde_json::json!({
            "step": r.index,
            "input": r.input,
            "phase": r.step.phase,
            "awaiting": r.step.awaiting,
            "wake_at": r.step.wake_at,
            "result": r.step.result.as_deref().map(json),
            "events": r.step.events.iter().map(|e| serde_json::json!({
                "to": e.audience,
                "event": json(&e.payload),
            })).collect::<Vec<_>>(),
            "view": r.step.view_for(crate::rules::Viewer::Spectator).map(json),
        });
        if let Err(e) = writeln!(out, "{line}")
            && write_error.is_none()
        {
            write_error = Some(e);
        }
    });
    if let Some(e) = write_error {
        return Err(e).context("writing the replay");
    }
    match outcome {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
