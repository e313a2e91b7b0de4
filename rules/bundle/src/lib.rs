//! The rules modules that ship with Tabula, as component bytes: those compiled from `rules/*` by
//! this crate's build script (the current source of each game), and the released versions kept
//! byte for byte in `rules/released/` (see its README). The host takes modules only as bytes; it
//! never links a rules crate.

/// One bundled component.
#[derive(Clone, Copy, Debug)]
pub struct Bundled {
    /// The package name, which is also the module's game name.
    pub name: &'static str,
    /// The component's bytes.
    pub bytes: &'static [u8],
    /// Where the build wrote the component (for tools that take a file).
    pub path: &'static str,
    /// True for hostile test fixtures, which a server does not load by default.
    pub fixture: bool,
    /// The version, for a released module kept in `rules/released/`; `None` for one built from
    /// the current source.
    pub released: Option<&'static str>,
}

/// `sha256sum` lines of the released modules: each must stay byte for byte what was released.
pub const RELEASED_DIGESTS: &str = include_str!("../../released/digests.txt");

include!(concat!(env!("OUT_DIR"), "/modules.rs"));

/// The bundled module called `name`, as built from the current source.
pub fn find(name: &str) -> Option<&'static Bundled> {
    MODULES
        .iter()
        .find(|m| m.name == name && m.released.is_none())
}

/// The released version `version` of the bundled game `name`.
pub fn find_released(name: &str, version: &str) -> Option<&'static Bundled> {
    MODULES
        .iter()
        .find(|m| m.name == name && m.released == Some(version))
}
