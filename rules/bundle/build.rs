//! Compiles every rules crate under `rules/` to a `wasm32-unknown-unknown` core module (release,
//! LTO), wraps each in a component with `wit-component`, and generates `modules.rs` with their
//! bytes and paths, followed by the released versions kept in `rules/released/`. What is built
//! from source is never committed; what was released is never rebuilt.
//!
//! The guests are built by a nested cargo in their own target directory (`target/wasm-guests`),
//! so the outer build's lock is not contended and debug and release hosts share one guest build.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

/// (package, whether it is a test fixture rather than a game to serve by default)
const GUESTS: &[(&str, bool)] = &[
    ("tic-tac-toe", false),
    ("turn-room", false),
    ("liap-tui", false),
    ("hostile", true),
];

/// Further builds of a guest with a cargo feature, each its own module:
/// (package, feature, bundled name).
const VARIANTS: &[(&str, &str, &str)] = &[
    ("hostile", "migrate-fails", "hostile-migrate-fails"),
    ("hostile", "traps-after-swap", "hostile-traps-after-swap"),
    ("hostile", "always-traps", "hostile-always-traps"),
];

const TARGET: &str = "wasm32-unknown-unknown";

fn main() -> Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir
        .parent()
        .and_then(Path::parent)
        .context("rules/bundle sits two levels below the workspace root")?
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    for watched in ["wit", "guest-sdk", "rules", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    check_target_installed()?;

    let guest_target_dir = guest_target_dir(&out_dir, &root);
    let mut cmd = guest_build(&cargo, &root, &guest_target_dir);
    for (package, _) in GUESTS {
        cmd.args(["-p", package]);
    }
    let status = cmd
        .status()
        .with_context(|| format!("running {cargo} to build the rules modules"))?;
    if !status.success() {
        bail!("building the rules modules for {TARGET} failed ({status}); see the output above");
    }

    let mut generated =
        String::from("/// Every module in the bundle.\npub const MODULES: &[Bundled] = &[\n");
    let mut constants = String::new();
    for (package, fixture) in GUESTS {
        let (core, path) = componentize(&guest_target_dir, &out_dir, package, package)?;
        // A copy of the core module (the guest build's own file is rebuilt by the variants).
        let core_path = out_dir.join(format!("{package}.core.wasm"));
        fs::write(&core_path, &core)?;
        let ident = package.replace('-', "_").to_uppercase();
        constants.push_str(&format!(
            "/// The `{package}` component.\npub const {ident}: &[u8] = include_bytes!({path:?});\n\
             /// Where the `{package}` component was written.\npub const {ident}_PATH: &str = {path:?};\n\
             /// Where the `{package}` core module (before it became a component) was written.\n\
             pub const {ident}_CORE_PATH: &str = {core:?};\n",
            path = path.display().to_string(),
            core = core_path.display().to_string()
        ));
        generated.push_str(&format!(
            "    Bundled {{ name: {package:?}, bytes: {ident}, path: {ident}_PATH, fixture: {fixture}, released: None }},\n"
        ));
    }
    // Variants, built after the plain guests (a variant's build replaces the package's core
    // module file, which was read above).
    for (package, feature, name) in VARIANTS {
        let mut cmd = guest_build(&cargo, &root, &guest_target_dir);
        cmd.args(["-p", package, "--features", feature]);
        let status = cmd
            .status()
            .with_context(|| format!("running {cargo} to build {name}"))?;
        if !status.success() {
            bail!("building {name} for {TARGET} failed ({status}); see the output above");
        }
        let (_, path) = componentize(&guest_target_dir, &out_dir, package, name)?;
        let ident = name.replace('-', "_").to_uppercase();
        constants.push_str(&format!(
            "/// The `{name}` component (`{package}` built with `{feature}`).\n\
             pub const {ident}: &[u8] = include_bytes!({path:?});\n",
            path = path.display().to_string()
        ));
        generated.push_str(&format!(
            "    Bundled {{ name: {name:?}, bytes: {ident}, path: {path:?}, fixture: true, released: None }},\n",
            path = path.display().to_string()
        ));
    }

    // Released versions: kept byte for byte in `rules/released/` (`NAME-VERSION.wasm`), never
    // rebuilt, so that a version games were played with stays the same module forever.
    let released_dir = root.join("rules").join("released");
    let mut released: Vec<PathBuf> = fs::read_dir(&released_dir)
        .with_context(|| format!("reading {}", released_dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    released.sort();
    for path in released {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .context("a released module's file name is not UTF-8")?;
        let (name, version) = stem
            .rfind('-')
            .map(|at| (&stem[..at], &stem[at + 1..]))
            .filter(|(_, v)| v.starts_with(|c: char| c.is_ascii_digit()))
            .with_context(|| format!("{}: not named NAME-VERSION.wasm", path.display()))?;
        let ident = format!(
            "{}_{}",
            name.replace('-', "_").to_uppercase(),
            version.replace(['.', '-', '+'], "_").to_uppercase()
        );
        constants.push_str(&format!(
            "/// `{name}` {version}, as released.\npub const {ident}: &[u8] = include_bytes!({path:?});\n\
             /// Where the released `{name}` {version} is.\npub const {ident}_PATH: &str = {path:?};\n",
            path = path.display().to_string()
        ));
        generated.push_str(&format!(
            "    Bundled {{ name: {name:?}, bytes: {ident}, path: {ident}_PATH, fixture: false, released: Some({version:?}) }},\n"
        ));
    }
    generated.push_str("];\n");
    fs::write(out_dir.join("modules.rs"), constants + &generated)?;
    Ok(())
}

/// Reads `package`'s core module from the guest build, wraps it in a component and writes that
/// to `OUT_DIR/NAME.wasm`; the core module's bytes and the component's path.
fn componentize(
    guest_target_dir: &Path,
    out_dir: &Path,
    package: &str,
    name: &str,
) -> Result<(Vec<u8>, PathBuf)> {
    let core_path = guest_target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    let core = fs::read(&core_path)
        .with_context(|| format!("reading the core module {}", core_path.display()))?;
    let component = wit_component::ComponentEncoder::default()
        .module(&core)
        .with_context(|| format!("{name}: reading the component metadata"))?
        .validate(true)
        .encode()
        .with_context(|| format!("{name}: encoding the component"))?;
    let path = out_dir.join(format!("{name}.wasm"));
    fs::write(&path, &component)?;
    Ok((core, path))
}

/// A release build of guests for the wasm target in `target_dir`, with the flags every guest
/// build uses; the caller adds the packages.
fn guest_build(cargo: &str, root: &Path, target_dir: &Path) -> Command {
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--release", "--target", TARGET])
        .arg("--target-dir")
        .arg(target_dir);
    // The outer build's flags and wrappers (clippy, coverage, a host-only RUSTFLAGS) must not
    // leak into the guest build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "3")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        // Without bulk memory, `memcpy` stays wasm code instead of `memory.copy`, which wasmtime
        // runs as a call into the host: serde's many small copies made that 5% of a Liap Tui act.
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            "-Ctarget-feature=-bulk-memory",
        );
    cmd
}

/// `target/wasm-guests`, found from OUT_DIR (`<target>/<profile>/build/<pkg>/out`), so that it
/// follows a custom `--target-dir`; falls back to the workspace's `target/`.
fn guest_target_dir(out_dir: &Path, root: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(|target| target.join("wasm-guests"))
        .unwrap_or_else(|| root.join("target").join("wasm-guests"))
}

/// Makes sure the wasm target's standard library is installed. Where it is missing and rustup is
/// present (rustup does not add a toolchain file's targets by itself when `RUSTUP_AUTO_INSTALL=0`,
/// as on this project's CI machines), it runs `rustup target add` for the toolchain in use and
/// says so; without rustup it fails with the exact fix.
fn check_target_installed() -> Result<()> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = sysroot(&rustc)?;
    if has_target_std(&sysroot) {
        return Ok(());
    }
    let fix = format!("rustup target add {TARGET}");
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", TARGET]);
    // Under rustup, RUSTUP_TOOLCHAIN names the toolchain this build runs with; the target must be
    // added to that one, not to whatever the current directory would select.
    if let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") {
        rustup.args(["--toolchain", &toolchain]);
    }
    println!(
        "cargo:warning=the {TARGET} target was not installed for {}; running `{fix}`",
        sysroot.display()
    );
    match rustup.status() {
        Ok(status) if status.success() && has_target_std(&sysroot) => Ok(()),
        Ok(status) => bail!(
            "the {TARGET} target is not installed for this toolchain ({}), and `{fix}` failed \
             ({status}).\nFix: {fix}",
            sysroot.display()
        ),
        Err(e) => bail!(
            "the {TARGET} target is not installed for this toolchain ({}), and rustup could not \
             be run ({e}).\nFix: install the {TARGET} standard library for this toolchain \
             (with rustup: {fix})",
            sysroot.display()
        ),
    }
}

fn sysroot(rustc: &str) -> Result<PathBuf> {
    let out = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .with_context(|| format!("running {rustc} --print sysroot"))?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn has_target_std(sysroot: &Path) -> bool {
    let lib = sysroot.join("lib/rustlib").join(TARGET).join("lib");
    fs::read_dir(&lib)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
        })
        .unwrap_or(false)
}
