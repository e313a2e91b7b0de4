//! `tabula replay FILE`: run a recorded game through the exact module that played it, checking
//! every recorded state hash, and print every step.

use crate::modules;
use crate::replay::{self, GameRecord, ModuleRef};
use crate::rules::{Limits, Module, Runtime, RuntimeConfig};
use anyhow::Context;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Where the module of a record comes from.
pub struct ModuleSource<'a> {
    /// `--module`: a file or a bundled name.
    pub spec: Option<&'a str>,
    /// `--database-url`: the module store of a server's database.
    pub database_url: Option<&'a str>,
}

/// The module a record starts under: `--module` if given; else the bundled module with the
/// record's digest; else the bytes the server's database kept under that digest; else (a
/// record without a digest) the bundled module of that name.
pub fn module_for(
    record: &GameRecord,
    from: &ModuleSource<'_>,
    runtime: &Runtime,
) -> anyhow::Result<Module> {
    module_named(&record.module, from, runtime)
}

/// The module a swap in a record moves the game to, found as [`module_for`] finds the first
/// (but never from `--module`, which names the first).
pub fn swap_target(to: &ModuleRef, from: &ModuleSource<'_>, runtime: &Runtime) -> Option<Module> {
    let from = ModuleSource {
        spec: None,
        database_url: from.database_url,
    };
    match module_named(to, &from, runtime) {
        Ok(module) => Some(module),
        Err(e) => {
            eprintln!("error: {e:#}");
            None
        }
    }
}

fn module_named(
    wanted: &ModuleRef,
    from: &ModuleSource<'_>,
    runtime: &Runtime,
) -> anyhow::Result<Module> {
    let load = |bytes: &[u8], what: &str| {
        runtime
            .load(bytes)
            .with_context(|| format!("loading {what}"))
    };
    if let Some(spec) = from.spec {
        return load(&modules::resolve(spec)?, spec);
    }
    let Some(digest) = &wanted.digest else {
        // A record without a digest: the released version it names, else today's build.
        let name = &wanted.name;
        if let Some(released) = tabula_bundle::find_released(name, &wanted.version) {
            return load(released.bytes, name);
        }
        return load(&modules::resolve(name)?, name);
    };
    if let Some(bundled) = tabula_bundle::MODULES
        .iter()
        .find(|m| crate::rules::sha256_hex(m.bytes) == *digest)
    {
        return load(bundled.bytes, bundled.name);
    }
    let Some(url) = from.database_url else {
        anyhow::bail!(
            "the record's module {}@{} (digest {digest}) is not bundled with this build: give \
             --module FILE, or --database-url to read it from the server's database",
            wanted.name,
            wanted.version
        );
    };
    let bytes = tokio::runtime::Runtime::new()?.block_on(async {
        let metrics = crate::metrics::Metrics::new();
        let storage =
            crate::store::Storage::open(url, &crate::config::DatabaseConfig::default(), &metrics)
                .await?;
        let bytes = storage.modules.load(digest).await?;
        anyhow::Ok(bytes)
    })?;
    match bytes {
        Some(bytes) => load(&bytes, &format!("the module of digest {digest}")),
        None => anyhow::bail!("the database has no module of digest {digest}"),
    }
}

/// Replays the record in `file` and prints one JSON line per step (start first): the input, the
/// phase, whom the game awaits, the next wake-up, the events and the spectator view.
pub fn run(
    file: &Path,
    fire_due_timers: bool,
    from: &ModuleSource<'_>,
    data_dir: &Path,
) -> anyhow::Result<ExitCode> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    let runtime = Runtime::new(RuntimeConfig {
        limits: Limits::default(),
        cache_dir: Some(data_dir.join("modules")),
    })?;
    if fire_due_timers || super::script_cmd::is_script(&text) {
        let script: replay::Script = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a game script", file.display()))?;
        let module = module_named(&script.module, from, &runtime)?;
        return super::script_cmd::run(&script, &module);
    }
    let record: GameRecord = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a game record", file.display()))?;
    let module = module_for(&record, from, &runtime)?;
    let another = module.info().version != record.module.version
        || (record.module.digest.as_deref()).is_some_and(|d| d != module.digest());
    if from.spec.is_some() && another {
        return across_versions(&record, &module, from, &runtime);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write_error = None;
    let swapped = |to: &ModuleRef| swap_target(to, from, &runtime);
    let outcome = replay::run_across(&module, &record, &swapped, |r| {
        let line = step_line(
            r.index,
            serde_json::to_value(r.input).unwrap_or_default(),
            r.step,
        );
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

/// The output line of one step: the input, the phase, whom the game awaits, the next wake-up,
/// the result, the events with their audience and the spectator view.
pub fn step_line(index: usize, input: serde_json::Value, step: &crate::rules::Step) -> String {
    let json = |text: &str| {
        serde_json::from_str::<serde_json::Value>(text)
            .unwrap_or_else(|_| serde_json::Value::String(text.into()))
    };
    serde_json::json!({
        "step": index,
        "input": input,
        "phase": step.phase,
        "awaiting": step.awaiting,
        "wake_at": step.wake_at,
        "result": step.result.as_deref().map(json),
        "events": step.events.iter().map(|e| serde_json::json!({
            "to": e.audience,
            "event": json(&e.payload),
        })).collect::<Vec<_>>(),
        "view": step.view_for(crate::rules::Viewer::Spectator).map(json),
    })
    .to_string()
}

/// `--module OTHER` with another version than the record's: replays the players' inputs under
/// it and prints the first divergence as one JSON line (`"diverged": false` when there is
/// none); exits non-zero when it diverges. The record's own result, for a finished game, is
/// found by replaying it under its own module when that is at hand.
fn across_versions(
    record: &GameRecord,
    other: &Module,
    from: &ModuleSource<'_>,
    runtime: &Runtime,
) -> anyhow::Result<ExitCode> {
    if other.info().name != record.module.name {
        anyhow::bail!(
            "the record is a game of {}, and the module is {}",
            record.module.name,
            other.label()
        );
    }
    let own = ModuleSource {
        spec: None,
        database_url: from.database_url,
    };
    let result = module_named(&record.module, &own, runtime)
        .ok()
        .and_then(|m| {
            let swapped = |to: &ModuleRef| swap_target(to, &own, runtime);
            replay::run_across(&m, record, &swapped, |_| {}).ok()
        })
        .and_then(|step| step.result);
    let found = replay::shadow(record, other, result.as_deref());
    let line = serde_json::json!({
        "record": format!("{}@{}", record.module.name, record.module.version),
        "module": other.label(),
        "digest": other.digest(),
        "diverged": found.is_some(),
        "divergence": found,
    });
    println!("{line}");
    Ok(if found.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
