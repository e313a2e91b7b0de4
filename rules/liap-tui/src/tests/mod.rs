//! Tests that drive whole games through the SDK's contract, exactly as the sandbox does:
//! `support` builds tables (from a seed, or from a hand-made state) and the privacy checkers;
//! `preparation` and `flows` pin the rules of each phase, `leads` the legal plays views list,
//! `rounds` whole rounds, `limit` the round limit, `migration` taking over version-1 games, and
//! `props` checks invariants over random games.

mod flows;
mod leads;
mod limit;
mod migration;
mod preparation;
mod props;
mod rounds;
mod scripts;
pub(crate) mod support;
