//! Precompiled components on disk, keyed by the module's digest and the engine's compatibility
//! hash, so a restart loads modules in microseconds instead of compiling them again.
//!
//! Loading precompiled code trusts its bytes completely. Each artifact is stored with its SHA-256
//! beside it and loaded only when the checksum matches; on any mismatch or load error the module
//! is compiled again and the artifact rewritten. The checksum detects corruption (a torn write,
//! a truncated or damaged file), not tampering: it is unkeyed and lives in the same directory, so
//! whoever can change an artifact can change its checksum. The cache directory must be as
//! trusted as the `tabula` binary itself.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// How a component was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loaded {
    /// Compiled from wasm (and cached when a cache is configured).
    Compiled,
    /// Loaded from a precompiled artifact whose checksum matched.
    FromCache,
}

/// A directory of precompiled artifacts.
#[derive(Clone, Debug)]
pub struct ArtifactCache {
    dir: PathBuf,
}

impl ArtifactCache {
    /// A cache in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ArtifactCache { dir: dir.into() }
    }

    /// Where the artifact for `digest` under `engine` lives.
    pub fn artifact_path(&self, engine: &Engine, digest: &str) -> PathBuf {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        self.dir.join(format!("{digest}-{:016x}.cwasm", h.finish()))
    }

    fn hash_path(artifact: &Path) -> PathBuf {
        artifact.with_extension("cwasm.sha256")
    }

    /// The component for `bytes`, from the cache when an intact artifact exists.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
    ) -> wasmtime::Result<(Component, Loaded)> {
        let path = self.artifact_path(engine, digest);
        if let Some(component) = self.load_intact(engine, &path) {
            return Ok((component, Loaded::FromCache));
        }
        let artifact = engine.precompile_component(bytes)?;
        if let Err(e) = self.store(&path, &artifact) {
            tracing::warn!(path = %path.display(), "cannot write the precompiled module: {e}");
        }
        // SAFETY: `artifact` was produced by `precompile_component` on this very engine a moment
        // ago and has not left this process.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, &artifact)? };
        Ok((component, Loaded::Compiled))
    }

    /// The cached component at `path`, unless it is missing, fails its checksum or fails to load.
    fn load_intact(&self, engine: &Engine, path: &Path) -> Option<Component> {
        let artifact = std::fs::read(path).ok()?;
        let expected = std::fs::read_to_string(Self::hash_path(path)).ok()?;
        if sha256_hex(&artifact) != expected.trim() {
            tracing::warn!(path = %path.display(), "precompiled module fails its checksum (corrupted); recompiling");
            return None;
        }
        // SAFETY: the file name carries the engine's compatibility hash and the bytes match the
        // checksum written beside them when a host produced them with `precompile_component`,
        // so, unless someone with write access to the cache directory replaced both (which the
        // unkeyed checksum cannot detect; the directory is trusted like the binary), they are an
        // undamaged artifact of a compatible engine.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize(engine, &artifact) };
        match loaded {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot load precompiled module ({e}); recompiling");
                None
            }
        }
    }

    fn store(&self, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        // Write to temporary names and rename, so a crash never leaves a half-written artifact
        // under the real name. The checksum goes last: an artifact without it is never loaded.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, artifact)?;
        std::fs::rename(&tmp, path)?;
        let tmp_hash = path.with_extension(format!("sha{}", std::process::id()));
        std::fs::write(&tmp_hash, sha256_hex(artifact))?;
        std::fs::rename(&tmp_hash, Self::hash_path(path))
    }
}
