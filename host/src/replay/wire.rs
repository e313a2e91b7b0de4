//! The record's input objects as read, and the action's JSON text as written.

use crate::store::SeatChange;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

pub const ACT: &[&str] = &["type", "seat", "action", "at", "request_id", "state_hash"];
pub const TIMER: &[&str] = &["type", "at", "state_hash"];
pub const SEAT: &[&str] = &["type", "seat", "change", "at"];
pub const SWAP: &[&str] = &["type", "to", "at", "state_hash"];

/// Every field any input type has; which ones must be present depends on `type`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    #[serde(rename = "type")]
    pub kind: Kind,
    pub seat: Option<u32>,
    /// Raw, so the text is the record's bytes; `default` makes a missing action `None`,
    /// while an explicit `null` is the action text `null`.
    #[serde(default, deserialize_with = "json_text")]
    pub action: Option<String>,
    pub at: u64,
    pub request_id: Option<String>,
    pub state_hash: Option<String>,
    pub change: Option<SeatChange>,
    pub to: Option<super::ModuleRef>,
}

/// The input types.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Act,
    Timer,
    Seat,
    Swap,
    Rollback,
}

/// Writes a JSON text held as a `String` as the JSON value it is.
pub fn serialize_json_text<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    match serde_json::from_str::<&RawValue>(text) {
        Ok(raw) => raw.serialize(s),
        // Only a module that accepts non-JSON actions gets here; keep the text as a string.
        Err(_) => s.serialize_str(text),
    }
}

fn json_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let raw = Box::<RawValue>::deserialize(d)?;
    Ok(Some(Box::<str>::from(raw).into_string()))
}
