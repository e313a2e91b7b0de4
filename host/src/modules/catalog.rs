//! The module catalog, a port: every installed version of every game, keyed by name, version and
//! content digest, and which version of each game new rooms get (its *active* version). It can
//! change while the server runs — versions added, active versions set — and announces each
//! change on a watch channel that rooms and tools observe.
//!
//! Must not touch: rooms, sockets, storage. [`MemoryCatalog`] is the implementation used today.

use crate::rules::{Module, RulesError, Runtime};
use crate::store::{ModuleKey, ModuleStore};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::RwLock;
use tokio::sync::watch;

/// One installed game, as listed to clients.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GameListing {
    /// Game name.
    pub name: String,
    /// Installed versions, oldest first.
    pub versions: Vec<String>,
    /// The version new rooms get.
    pub active: String,
    /// Fewest seats.
    pub min_seats: u32,
    /// Most seats.
    pub max_seats: u32,
    /// The active version's default options.
    pub default_options: serde_json::Value,
    /// The active version's phases.
    pub phases: Vec<String>,
}

/// Why the catalog could not be built or changed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A modules directory cannot be read.
    #[error("cannot read the modules directory {path}: {source}")]
    Dir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A module failed to load.
    #[error("cannot load {what}: {source}")]
    Load {
        /// Which module.
        what: String,
        /// Why.
        source: RulesError,
    },
    /// Another module is installed under that name and version (outside development mode a
    /// version, once installed, is one module forever).
    #[error(
        "{game}@{version} is installed already as another module (digest {installed}); raise \
         the version (or run the server with --dev, where it becomes a new revision)"
    )]
    VersionTaken {
        /// The game.
        game: String,
        /// The version.
        version: String,
        /// The installed module's digest.
        installed: String,
    },
    /// The module store could not be read.
    #[error("cannot read the installed versions: {0}")]
    Store(#[from] crate::store::StoreError),
    /// No such game or version.
    #[error("no game {game} at version {version}")]
    UnknownVersion {
        /// The game.
        game: String,
        /// The version.
        version: String,
    },
}

/// The installed games.
pub trait ModuleCatalog: Send + Sync + 'static {
    /// Installs a module version (replacing one with the same name and version). The first
    /// version of a game becomes its active one; later ones only when made active.
    fn add(&self, module: Module) -> ModuleKey;
    /// The version of `game` new rooms get.
    fn active(&self, game: &str) -> Option<Module>;
    /// `game` at `version`.
    fn version(&self, game: &str, version: &str) -> Option<Module>;
    /// The installed module with this content digest.
    fn by_digest(&self, digest: &str) -> Option<Module>;
    /// Makes `version` the version of `game` that new rooms get.
    fn set_active(&self, game: &str, version: &str) -> Result<(), CatalogError>;
    /// Every installed game.
    fn list(&self) -> Vec<GameListing>;
    /// A counter that moves on every change.
    fn changes(&self) -> watch::Receiver<u64>;
    /// Marks `game` at `version` quarantined (it keeps failing): it takes no new rooms.
    fn quarantine(&self, game: &str, version: &str, reason: &str);
    /// Why `game` at `version` is quarantined, if it is.
    fn quarantined(&self, game: &str, version: &str) -> Option<String>;

    /// Installs `module` unless another module holds its name and version: then it is refused,
    /// or with `revisions` (development mode) it replaces that version as a new revision (rooms
    /// on the old revision keep it). `Ok(false)`: the very same module is installed already.
    fn install(&self, module: Module, revisions: bool) -> Result<bool, CatalogError> {
        let info = module.info();
        match self.version(&info.name, &info.version) {
            Some(m) if m.digest() == module.digest() => Ok(false),
            Some(m) if !revisions => Err(CatalogError::VersionTaken {
                game: info.name.clone(),
                version: info.version.clone(),
                installed: m.digest().into(),
            }),
            _ => {
                self.add(module);
                Ok(true)
            }
        }
    }
}

/// The key of a loaded module.
pub fn key_of(module: &Module) -> ModuleKey {
    ModuleKey {
        name: module.info().name.clone(),
        version: module.info().version.clone(),
        digest: module.digest().to_owned(),
    }
}

fn version_key(v: &str) -> (Vec<u64>, String) {
    let nums = v
        .split(['-', '+'])
        .next()
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    (nums, v.to_string())
}

struct Game {
    /// Oldest version first.
    versions: Vec<Module>,
    active: String,
}

/// The catalog in memory.
pub struct MemoryCatalog {
    games: RwLock<BTreeMap<String, Game>>,
    changes: watch::Sender<u64>,
    /// (game, version) -> why it is quarantined.
    quarantined: RwLock<BTreeMap<(String, String), String>>,
}

impl Default for MemoryCatalog {
    fn default() -> Self {
        MemoryCatalog {
            games: RwLock::new(BTreeMap::new()),
            changes: watch::channel(0).0,
            quarantined: RwLock::new(BTreeMap::new()),
        }
    }
}

impl MemoryCatalog {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Game>> {
        self.games.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Game>> {
        self.games.write().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }
}

impl ModuleCatalog for MemoryCatalog {
    fn add(&self, module: Module) -> ModuleKey {
        let key = key_of(&module);
        {
            let mut games = self.write();
            let game = games.entry(key.name.clone()).or_insert_with(|| Game {
                versions: Vec::new(),
                active: key.version.clone(),
            });
            game.versions.retain(|m| m.info().version != key.version);
            game.versions.push(module);
            game.versions
                .sort_by_key(|m| version_key(&m.info().version));
        }
        self.changed();
        key
    }

    fn active(&self, game: &str) -> Option<Module> {
        let games = self.read();
        let g = games.get(game)?;
        g.versions
            .iter()
            .find(|m| m.info().version == g.active)
            .cloned()
    }

    fn version(&self, game: &str, version: &str) -> Option<Module> {
        self.read()
            .get(game)?
            .versions
            .iter()
            .find(|m| m.info().version == version)
            .cloned()
    }

    fn by_digest(&self, digest: &str) -> Option<Module> {
        self.read()
            .values()
            .flat_map(|g| g.versions.iter())
            .find(|m| m.digest() == digest)
            .cloned()
    }

    fn set_active(&self, game: &str, version: &str) -> Result<(), CatalogError> {
        {
            let mut games = self.write();
            let unknown = || CatalogError::UnknownVersion {
                game: game.into(),
                version: version.into(),
            };
            let g = games.get_mut(game).ok_or_else(unknown)?;
            if !g.versions.iter().any(|m| m.info().version == version) {
                return Err(unknown());
            }
            g.active = version.into();
        }
        self.changed();
        Ok(())
    }

    fn list(&self) -> Vec<GameListing> {
        self.read()
            .iter()
            .filter_map(|(name, g)| {
                let active = g.versions.iter().find(|m| m.info().version == g.active)?;
                let info = active.info();
                Some(GameListing {
                    name: name.clone(),
                    versions: g
                        .versions
                        .iter()
                        .map(|m| m.info().version.clone())
                        .collect(),
                    active: g.active.clone(),
                    min_seats: info.min_seats,
                    max_seats: info.max_seats,
                    default_options: info.default_options.clone(),
                    phases: info.phases.clone(),
                })
            })
            .collect()
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn quarantine(&self, game: &str, version: &str, reason: &str) {
        self.quarantined
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert((game.into(), version.into()), reason.into());
        self.changed();
    }

    fn quarantined(&self, game: &str, version: &str) -> Option<String> {
        self.quarantined
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(game.to_owned(), version.to_owned()))
            .cloned()
    }
}

/// How the catalog is built at start.
pub struct CatalogSources<'a> {
    /// A directory of `*.wasm` components to install too.
    pub dir: Option<&'a Path>,
    /// The versions accepted before, and the active versions as last set.
    pub store: Option<&'a dyn ModuleStore>,
    /// Development mode: a different module under an installed version is a new revision.
    pub revisions: bool,
}

/// The catalog at start: the versions this server accepted before (kept in the module store,
/// oldest first), then the bundled games (not the test fixtures: released versions first, then
/// the ones built from the current source) and every `*.wasm` in the directory. A game's first
/// version installed is its active one — the released version where there is one, so that
/// bundling a newer version does not make it active — unless an operator activated another,
/// which the store remembers. A candidate under a name and version installed with other bytes is
/// refused with a warning (see [`ModuleCatalog::install`]).
pub async fn build_catalog(
    runtime: &Runtime,
    from: CatalogSources<'_>,
) -> Result<MemoryCatalog, CatalogError> {
    let catalog = MemoryCatalog::default();
    let kept = match from.store {
        Some(store) => store.kept().await?,
        None => Vec::new(),
    };
    if let Some(store) = from.store {
        for key in &kept {
            let Some(bytes) = store.load(&key.digest).await? else {
                continue;
            };
            match runtime.load(&bytes) {
                Ok(module) => match catalog.install(module, from.revisions) {
                    // The first module kept under a version is that version (in development
                    // mode, the last: revisions replace it).
                    Ok(_) | Err(CatalogError::VersionTaken { .. }) => {}
                    Err(e) => return Err(e),
                },
                Err(e) => tracing::warn!(game = %key.name, version = %key.version,
                    digest = %key.digest, "a kept module no longer loads: {e}"),
            }
        }
    }
    let kept: std::collections::HashSet<&str> = kept.iter().map(|k| k.digest.as_str()).collect();
    let runs = super::accept::SmokeRuns::default();
    for (what, module, bundled) in candidates(runtime, from.dir)? {
        // The modules directory's files pass a smoke run first, unless accepted before; the
        // bundled modules were checked when this server was built.
        if !bundled
            && !kept.contains(module.digest())
            && let Err(e) = super::accept::smoke_run(&module, &runs)
        {
            tracing::warn!("not installed: {what}: {e}");
            continue;
        }
        match catalog.install(module, from.revisions) {
            Ok(true) if from.revisions => tracing::info!("installed {what}"),
            Ok(_) => {}
            Err(e) => tracing::warn!("not installed: {what}: {e}"),
        }
    }
    if let Some(store) = from.store {
        for (game, version) in store.active_versions().await? {
            if let Err(e) = catalog.set_active(&game, &version) {
                tracing::warn!("the active version of {game} as last set is gone: {e}");
            }
        }
    }
    Ok(catalog)
}

/// The bundled games and the directory's modules, loaded, in installation order: what each is,
/// the module, and whether it is bundled.
fn candidates(
    runtime: &Runtime,
    dir: Option<&Path>,
) -> Result<Vec<(String, Module, bool)>, CatalogError> {
    let mut found = Vec::new();
    let mut bundled: Vec<_> = tabula_bundle::MODULES
        .iter()
        .filter(|m| !m.fixture)
        .collect();
    bundled.sort_by_key(|m| m.released.is_none());
    for bundled in bundled {
        let what = match bundled.released {
            Some(v) => format!("{}@{v} (released)", bundled.name),
            None => format!("{} (bundled)", bundled.name),
        };
        let module = runtime
            .load(bundled.bytes)
            .map_err(|source| CatalogError::Load {
                what: what.clone(),
                source,
            })?;
        found.push((what, module, true));
    }
    if let Some(dir) = dir {
        let entries = std::fs::read_dir(dir).map_err(|source| CatalogError::Dir {
            path: dir.display().to_string(),
            source,
        })?;
        let mut paths: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        paths.sort();
        for path in paths {
            let what = path.display().to_string();
            let bytes = std::fs::read(&path).map_err(|source| CatalogError::Dir {
                path: what.clone(),
                source,
            })?;
            // A core module counts as the component it makes (as an upload does).
            let bytes = super::accept::component_bytes(&bytes).map_or(bytes, |(c, _)| c);
            let module = runtime.load(&bytes).map_err(|source| CatalogError::Load {
                what: what.clone(),
                source,
            })?;
            found.push((what, module, false));
        }
    }
    Ok(found)
}

/// [`build_catalog`] without a store or revisions (tools and tests).
pub fn load_catalog(runtime: &Runtime, dir: Option<&Path>) -> Result<MemoryCatalog, CatalogError> {
    let catalog = MemoryCatalog::default();
    for (what, module, _) in candidates(runtime, dir)? {
        if let Err(e) = catalog.install(module, false) {
            tracing::warn!("not installed: {what}: {e}");
        }
    }
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Limits, RuntimeConfig};

    #[test]
    fn the_catalog_keys_modules_by_digest_and_announces_every_change() {
        // An operator's catalog: a game's first version becomes active, modules are found by
        // content digest, a version that is not installed cannot be made active, and every
        // change moves the counter rooms and tools watch.
        let runtime = Runtime::new(RuntimeConfig {
            limits: Limits::default(),
            cache_dir: None,
        })
        .expect("runtime");
        let catalog = MemoryCatalog::default();
        let changes = catalog.changes();
        let key = catalog.add(runtime.load(tabula_bundle::TURN_ROOM).expect("loads"));
        assert_eq!(*changes.borrow(), 1);
        let active = catalog.active("turn-room").expect("active");
        assert_eq!(active.digest(), key.digest);
        assert_eq!(
            catalog
                .by_digest(&key.digest)
                .map(|m| m.info().version.clone()),
            Some(key.version.clone())
        );
        assert!(catalog.version("turn-room", &key.version).is_some());
        assert!(matches!(
            catalog.set_active("turn-room", "9.9.9"),
            Err(CatalogError::UnknownVersion { .. })
        ));
        assert_eq!(*changes.borrow(), 1, "a refused change is not announced");
        catalog
            .set_active("turn-room", &key.version)
            .expect("installed");
        assert_eq!(*changes.borrow(), 2);
        // The same name and version again replaces the installed one.
        catalog.add(runtime.load(tabula_bundle::TURN_ROOM).expect("loads"));
        let listed = catalog.list();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].versions, vec![key.version.clone()]);
        assert_eq!(listed[0].active, key.version);
        assert!(catalog.by_digest("not-a-digest").is_none());
        assert!(catalog.active("chess").is_none());
    }

    #[tokio::test]
    async fn versions_accepted_and_activated_before_a_restart_come_back_and_a_version_is_one_module()
     {
        // At start the released version is active, not the newer build; an operator's
        // activation survives the restart; a different module under an installed version is
        // refused, except in development mode, where it becomes the version's new revision.
        let runtime = Runtime::new(RuntimeConfig {
            limits: Limits::default(),
            cache_dir: None,
        })
        .expect("runtime");
        let store = crate::store::MemoryModules::default();
        let sources = |revisions| CatalogSources {
            dir: None,
            store: Some(&store),
            revisions,
        };
        let first = build_catalog(&runtime, sources(false))
            .await
            .expect("built");
        let active = first.active("turn-room").expect("installed");
        assert_eq!(active.info().version, "1.0.0", "the released version");
        assert_eq!(active.contract(), crate::rules::ContractVersion::V0_1);
        for game in first.list() {
            for v in &game.versions {
                let m = first.version(&game.name, v).expect("listed");
                store.keep(&key_of(&m), m.bytes()).await.expect("kept");
            }
        }
        store.set_active("turn-room", "1.1.0").await.expect("set");
        let second = build_catalog(&runtime, sources(false))
            .await
            .expect("built");
        assert_eq!(
            second.active("turn-room").map(|m| m.info().version.clone()),
            Some("1.1.0".into())
        );

        let installed = second.version("turn-room", "1.1.0").expect("installed");
        let rebuilt = installed.as_version("1.1.0");
        assert!(matches!(
            second.install(rebuilt.clone(), false),
            Err(CatalogError::VersionTaken { .. })
        ));
        assert_eq!(
            second
                .version("turn-room", "1.1.0")
                .map(|m| m.digest().to_owned()),
            Some(installed.digest().to_owned()),
            "refused: nothing changed"
        );
        assert!(matches!(
            second.install(installed.clone(), false),
            Ok(false)
        ));
        assert!(matches!(second.install(rebuilt.clone(), true), Ok(true)));
        assert_eq!(
            second
                .version("turn-room", "1.1.0")
                .map(|m| m.digest().to_owned()),
            Some(rebuilt.digest().to_owned()),
            "a new revision"
        );
    }
}
