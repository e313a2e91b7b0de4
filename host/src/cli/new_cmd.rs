//! `tabula new GAME [--path DIR]`: a ready crate for a new rules module — the SDK dependency, a
//! minimal game whose views list their moves, native tests, a scripted game and the build steps
//! — that builds, passes `tabula rules check` and can be served or pushed as it is.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const CARGO_TOML: &str = include_str!("template/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("template/lib.rs.tmpl");
const SCRIPT: &str = include_str!("template/script.json.tmpl");
const README: &str = include_str!("template/README.md.tmpl");

/// Whether `name` can name a game and its crate: a lowercase letter, then lowercase letters,
/// digits and dashes, 2 to 40 characters, not ending with a dash.
fn valid(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && (2..=40).contains(&name.len())
        && !name.ends_with('-')
}

/// The SDK this binary was built with (its source folder), when it is still there.
fn default_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk");
    sdk.join("Cargo.toml")
        .is_file()
        .then(|| sdk.canonicalize().ok())
        .flatten()
}

/// Writes the crate for `name` into `path` (default: `./NAME`).
pub fn run(name: &str, path: Option<&Path>, sdk: Option<&Path>) -> anyhow::Result<ExitCode> {
    if !valid(name) {
        anyhow::bail!(
            "{name:?} cannot name a game: use 2 to 40 lowercase letters, digits and dashes, \
             starting with a letter"
        );
    }
    let dir = path.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if dir.exists() && dir.read_dir()?.next().is_some() {
        anyhow::bail!("{} exists and is not empty", dir.display());
    }
    let sdk = match sdk {
        Some(s) => s
            .canonicalize()
            .with_context(|| format!("the SDK at {}", s.display()))?,
        None => default_sdk().context(
            "this binary's tabula-sdk source is not where it was built: give --sdk PATH (the \
             guest-sdk folder of a Tabula checkout)",
        )?,
    };
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{sdk}}", &sdk.display().to_string())
    };
    let files = [
        ("Cargo.toml", fill(CARGO_TOML)),
        ("src/lib.rs", fill(LIB_RS)),
        ("scripts/first-game.json", fill(SCRIPT)),
        ("README.md", fill(README)),
        (".gitignore", "/target\n*.wasm\n/modules\n".to_owned()),
    ];
    for (file, text) in files {
        let to = dir.join(file);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&to, text).with_context(|| format!("writing {}", to.display()))?;
    }
    println!(
        "created {name} in {}: `cargo test` there, then see its README.md to build the \
         component, check it and serve it",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn game_names_are_checked() {
        for ok in ["race", "my-game2", "ab"] {
            assert!(super::valid(ok), "{ok}");
        }
        for bad in ["", "a", "Race", "2race", "my_game", "race-", "../x", "a b"] {
            assert!(!super::valid(bad), "{bad}");
        }
    }
}
