//! Finding rules modules: the bundled ones by name, others by file path. Owns no sandbox state;
//! it only produces bytes for [`crate::rules::Runtime::load`].

use std::path::Path;

/// Why a module could not be found.
#[derive(Debug, thiserror::Error)]
pub enum ModuleSourceError {
    /// Neither a readable file nor a bundled name.
    #[error("no module {name:?}: not a file, and the bundled modules are {bundled}")]
    NotFound {
        /// What was asked for.
        name: String,
        /// The bundled names, comma separated.
        bundled: String,
    },
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The bytes of `spec`: a path to a component file, or the name of a bundled module.
pub fn resolve(spec: &str) -> Result<Vec<u8>, ModuleSourceError> {
    let path = Path::new(spec);
    if path.is_file() {
        return std::fs::read(path).map_err(|source| ModuleSourceError::Unreadable {
            path: spec.into(),
            source,
        });
    }
    match tabula_bundle::find(spec) {
        Some(m) => Ok(m.bytes.to_vec()),
        None => Err(ModuleSourceError::NotFound {
            name: spec.into(),
            bundled: bundled_names(true).join(", "),
        }),
    }
}

/// Names of the bundled modules; fixtures only when `with_fixtures`.
pub fn bundled_names(with_fixtures: bool) -> Vec<&'static str> {
    tabula_bundle::MODULES
        .iter()
        .filter(|m| with_fixtures || !m.fixture)
        .map(|m| m.name)
        .collect()
}

/// The installed games: every loaded module version, by game name.
#[derive(Default)]
pub struct Catalog {
    games: std::collections::BTreeMap<String, Vec<crate::rules::Module>>,
}

/// One installed game, as listed to clients.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GameListing {
    /// Game name.
    pub name: String,
    /// Installed versions, oldest first.
    pub versions: Vec<String>,
    /// Fewest seats.
    pub min_seats: u32,
    /// Most seats.
    pub max_seats: u32,
    /// The newest version's default options.
    pub default_options: serde_json::Value,
    /// The newest version's phases.
    pub phases: Vec<String>,
}

/// Why the catalog could not be built.
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
        source: crate::rules::RulesError,
    },
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

impl Catalog {
    /// The bundled games (not the test fixtures) plus every `*.wasm` in `dir`.
    pub fn load(
        runtime: &crate::rules::Runtime,
        dir: Option<&Path>,
    ) -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::default();
        for bundled in tabula_bundle::MODULES.iter().filter(|m| !m.fixture) {
            let module = runtime
                .load(bundled.bytes)
                .map_err(|source| CatalogError::Load {
                    what: bundled.name.into(),
                    source,
                })?;
            catalog.insert(module);
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
                let module = runtime
                    .load(&bytes)
                    .map_err(|source| CatalogError::Load { what, source })?;
                catalog.insert(module);
            }
        }
        Ok(catalog)
    }

    /// Adds a module version (replacing one with the same name and version).
    pub fn insert(&mut self, module: crate::rules::Module) {
        let versions = self.games.entry(module.info().name.clone()).or_default();
        versions.retain(|m| m.info().version != module.info().version);
        versions.push(module);
        versions.sort_by_key(|m| version_key(&m.info().version));
    }

    /// The module for `game` at `version`, or its newest version.
    pub fn get(&self, game: &str, version: Option<&str>) -> Option<&crate::rules::Module> {
        let versions = self.games.get(game)?;
        match version {
            Some(v) => versions.iter().find(|m| m.info().version == v),
            None => versions.last(),
        }
    }

    /// Every installed game.
    pub fn list(&self) -> Vec<GameListing> {
        self.games
            .iter()
            .filter_map(|(name, versions)| {
                let newest = versions.last()?.info();
                Some(GameListing {
                    name: name.clone(),
                    versions: versions.iter().map(|m| m.info().version.clone()).collect(),
                    min_seats: newest.min_seats,
                    max_seats: newest.max_seats,
                    default_options: newest.default_options.clone(),
                    phases: newest.phases.clone(),
                })
            })
            .collect()
    }
}
