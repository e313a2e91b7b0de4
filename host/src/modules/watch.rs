//! The modules directory while the server runs: every `*.wasm` dropped there or replaced (a
//! new length or modification time) is picked up, accepted like an upload (see [`super::accept`]:
//! compiled, checked, a smoke run), kept in the module store and installed — never activated,
//! which only an operator does. A refused file is logged with the reason and tried again only
//! when it changes.
//!
//! The directory is polled (every `modules_poll_ms`): a few `stat` calls per interval, and no
//! dependence on the platform's change notifications, which do not work on every file system.

use super::accept::{SmokeRuns, accept};
use super::{ModuleCatalog, catalog_key};
use crate::rules::Runtime;
use crate::store::ModuleStore;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// What the watcher needs.
pub struct Watched {
    /// The directory.
    pub dir: PathBuf,
    /// How often it is looked at.
    pub every: Duration,
    /// Compiles what is found.
    pub runtime: Arc<Runtime>,
    /// Where accepted modules are installed.
    pub catalog: Arc<dyn ModuleCatalog>,
    /// Where their bytes are kept.
    pub store: Arc<dyn ModuleStore>,
    /// Smoke runs already passed.
    pub runs: Arc<SmokeRuns>,
    /// Development mode: a different module under an installed version is a new revision.
    pub revisions: bool,
    /// Ends the watch.
    pub shutdown: CancellationToken,
}

/// Each file's length and modification time.
type Seen = HashMap<PathBuf, (u64, Option<SystemTime>)>;

fn scan(dir: &Path) -> Seen {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Seen::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .filter_map(|p| {
            let meta = std::fs::metadata(&p).ok()?;
            Some((p, (meta.len(), meta.modified().ok())))
        })
        .collect()
}

/// Watches `w.dir` until shutdown. The first look takes every file that is not installed
/// (one written between the start's reading of the directory and this task's first look is
/// not missed).
pub async fn watch(w: Watched) {
    let mut seen = Seen::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(w.every) => {}
            _ = w.shutdown.cancelled() => return,
        }
        let now = scan(&w.dir);
        for (path, stamp) in &now {
            if seen.get(path) == Some(stamp) {
                continue;
            }
            pick_up(&w, path).await;
        }
        seen = now;
    }
}

async fn pick_up(w: &Watched, path: &Path) {
    let what = path.display().to_string();
    let Ok(bytes) = tokio::fs::read(path).await else {
        return;
    };
    if w.catalog
        .by_digest(&crate::rules::sha256_hex(&bytes))
        .is_some()
    {
        return;
    }
    let (runtime, runs) = (w.runtime.clone(), w.runs.clone());
    let accepted = tokio::task::spawn_blocking(move || accept(&runtime, &bytes, &runs)).await;
    let module = match accepted {
        Ok(Ok(a)) => a.module,
        Ok(Err(e)) => return tracing::warn!("not installed: {what}: {e}"),
        Err(e) => return tracing::warn!("not installed: {what}: the check failed to run: {e}"),
    };
    let key = catalog_key(&module);
    if let Err(e) = w.store.keep(&key, module.bytes()).await {
        return tracing::warn!("not installed: {what}: cannot keep it: {e}");
    }
    match w.catalog.install(module, w.revisions) {
        Ok(true) => tracing::info!(game = %key.name, version = %key.version,
            digest = %key.digest, "installed from the modules directory: {what}"),
        Ok(false) => {}
        Err(e) => tracing::warn!("not installed: {what}: {e}"),
    }
}
