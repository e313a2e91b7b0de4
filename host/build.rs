//! Rebuilds the host when a migration changes: `sqlx::migrate!` embeds `migrations/` at compile
//! time, and cargo does not know to look there.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
