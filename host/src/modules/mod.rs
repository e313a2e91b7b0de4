//! Rules modules outside the sandbox: finding them (bundled ones by name, others by file path)
//! and the catalog of installed games ([`ModuleCatalog`], a port). Owns no sandbox state; it
//! only produces bytes for [`crate::rules::Runtime::load`] and keeps the loaded modules.

pub mod accept;
mod catalog;
pub mod watch;

pub use catalog::{
    CatalogError, CatalogSources, GameListing, MemoryCatalog, ModuleCatalog, build_catalog,
    key_of as catalog_key, load_catalog,
};

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
        let bytes = std::fs::read(path).map_err(|source| ModuleSourceError::Unreadable {
            path: spec.into(),
            source,
        })?;
        // A core module (what cargo builds for the wasm target) as the component it makes; a
        // file that is neither is left for the loader to refuse, saying why.
        return Ok(accept::component_bytes(&bytes).map_or(bytes, |(c, _)| c));
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
