//! The rules modules that ship with Tabula, as component bytes compiled from `rules/*` by this
//! crate's build script. The host takes modules only as bytes; it never links a rules crate.

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
}

include!(concat!(env!("OUT_DIR"), "/modules.rs"));

/// The bundled module called `name`.
pub fn find(name: &str) -> Option<&'static Bundled> {
    MODULES.iter().find(|m| m.name == name)
}
