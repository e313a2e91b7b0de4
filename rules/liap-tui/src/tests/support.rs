//! Test support: a table driven through [`Contract`] from any state, hand-made states for the
//! scenarios the flows pin down, and checkers that walk views and events for leaked pieces.

use crate::LiapTui;
use crate::options::{Options, Settings};
use crate::pieces::{KINDS, Kind, SEATS, canonical_deck, count_kinds, deal};
use crate::state::{Phase, Starter, StarterReason, State, Trick};
use serde_json::Value;
use tabula_sdk::{Audience, Context, Contract, Event, Game, Rng, RuleError, Seat, Step, Viewer};
use tabula_sdk::{decode_state, encode_state};

/// Options for fast tests: no display delays.
pub fn instant(win_score: u32) -> String {
    format!(r#"{{"pace":"instant","win_score":{win_score}}}"#)
}

/// Every viewer the harness renders for.
pub fn viewers() -> Vec<Viewer> {
    let mut v: Vec<Viewer> = (0..SEATS as Seat).map(Viewer::Seat).collect();
    v.push(Viewer::Spectator);
    v
}

/// A table held as the host holds it (state bytes and the last step), started from a seed or
/// from a hand-made state. Every accepted step is checked.
pub struct Table {
    pub bytes: Vec<u8>,
    pub now: u64,
    pub last: Option<Step>,
}

impl Table {
    pub fn start(seed: u64, options: &str) -> Table {
        let ctx = Context {
            now: 0,
            viewers: viewers(),
        };
        let step = Contract::<LiapTui>::start(4, seed, options, &ctx).expect("the game starts");
        Table {
            bytes: step.state.clone(),
            now: 0,
            last: Some(step),
        }
    }

    pub fn from_state(state: &State) -> Table {
        state.check().expect("a hand-made state must be consistent");
        Table {
            bytes: encode_state(LiapTui::STATE_VERSION, state),
            now: 0,
            last: None,
        }
    }

    fn ctx(&self) -> Context {
        Context {
            now: self.now,
            viewers: viewers(),
        }
    }

    fn accept(&mut self, step: Step) -> &Step {
        Contract::<LiapTui>::check(&step.state).expect("invariants hold after every step");
        self.bytes = step.state.clone();
        self.last = Some(step);
        self.last.as_ref().expect("just set")
    }

    pub fn act(&mut self, seat: Seat, json: &str) -> Result<&Step, RuleError> {
        let step = Contract::<LiapTui>::act(&self.bytes, seat, json, &self.ctx())?;
        Ok(self.accept(step))
    }

    /// Acts and expects success.
    pub fn ok(&mut self, seat: Seat, json: &str) -> &Step {
        let bytes = self.bytes.clone();
        match Contract::<LiapTui>::act(&bytes, seat, json, &self.ctx()) {
            Ok(step) => self.accept(step),
            Err(e) => panic!("seat {seat} playing {json}: {e}"),
        }
    }

    /// The refusal's reason for an action that must be illegal; the state must not change.
    pub fn illegal(&mut self, seat: Seat, json: &str) -> String {
        let before = self.bytes.clone();
        let result = self.act(seat, json).map(|_| ());
        assert_eq!(self.bytes, before, "a refused action changed the state");
        match result {
            Err(RuleError::Illegal(reason)) => reason,
            other => panic!("seat {seat} playing {json}: expected Illegal, got {other:?}"),
        }
    }

    /// Fires the pending timer, moving the clock to it.
    pub fn timer(&mut self) -> &Step {
        if let Some(t) = self.state().timer {
            self.now = self.now.max(t.at);
        }
        let step = Contract::<LiapTui>::timer(&self.bytes, &self.ctx()).expect("the timer fires");
        self.accept(step)
    }

    pub fn state(&self) -> State {
        decode_state(LiapTui::STATE_VERSION, &self.bytes).expect("the table's state decodes")
    }

    pub fn view(&self, viewer: Viewer) -> Value {
        let seat = match viewer {
            Viewer::Seat(s) => Some(s),
            Viewer::Spectator => None,
        };
        let json = Contract::<LiapTui>::view(&self.bytes, seat).expect("view");
        serde_json::from_str(&json).expect("views are JSON")
    }

    /// The last step's events as (audience, JSON).
    pub fn events(&self) -> Vec<(Audience, Value)> {
        self.last
            .iter()
            .flat_map(|s| &s.events)
            .map(|e| {
                (
                    e.audience,
                    serde_json::from_str(&e.payload).expect("events are JSON"),
                )
            })
            .collect()
    }

    /// Events of one type from the last step.
    pub fn events_of(&self, kind: &str) -> Vec<(Audience, Value)> {
        self.events()
            .into_iter()
            .filter(|(_, e)| e["type"] == kind)
            .collect()
    }

    pub fn awaiting(&self) -> Vec<Seat> {
        self.state().awaiting()
    }

    /// The bot's action for `seat` as JSON.
    pub fn bot(&self, seat: Seat, entropy: u64) -> String {
        Contract::<LiapTui>::bot(&self.bytes, seat, entropy).expect("the bot has a move")
    }

    /// Plays bots (redeals declined unless `accept`) and fires timers until `stop` holds.
    pub fn run_until(&mut self, max_steps: usize, stop: impl Fn(&State) -> bool) {
        for _ in 0..max_steps {
            let state = self.state();
            if stop(&state) {
                return;
            }
            match state.awaiting().first() {
                Some(&seat) if state.phase == Phase::Preparation => {
                    self.ok(seat, r#"{"redeal":false}"#);
                }
                Some(&seat) => {
                    let json = self.bot(seat, 7);
                    self.ok(seat, &json);
                }
                None => {
                    self.timer();
                }
            }
        }
        panic!("the condition was not reached in {max_steps} steps");
    }
}

/// JSON for a play of `pieces`.
pub fn play(pieces: &[Kind]) -> String {
    serde_json::json!({ "play": pieces }).to_string()
}

/// The instant-pace settings with the given win score (and the default round limit).
pub fn settings(win_score: u32) -> Settings {
    serde_json::from_str::<Options>(&instant(win_score))
        .expect("options")
        .validate()
        .expect("valid")
}

/// The canonical deck cut into four hands of 8: seat 0 gets GENERAL_RED .. ELEPHANT_RED×2,
/// seat 1 ELEPHANT_BLACK×2 .. HORSE_RED×2, seat 2 HORSE_BLACK×2 .. SOLDIER_RED×2, seat 3 the
/// remaining soldiers.
pub fn cut_hands() -> [Vec<Kind>; SEATS] {
    let deck = canonical_deck();
    std::array::from_fn(|s| deck[s * 8..s * 8 + 8].to_vec())
}

/// A consistent state in `declaration`, round 1, with these hands and this starter to declare.
pub fn at_declaration(hands: [Vec<Kind>; SEATS], starter: Seat) -> State {
    let mut s = State::new(settings(50), 1);
    s.hands = hands;
    s.phase = Phase::Declaration;
    s.starter = Some(Starter {
        seat: starter,
        reason: StarterReason::HasGeneralRed,
    });
    s.turn = starter;
    s
}

/// A consistent state in `turn`, at a trick boundary, with `leader` to lead: declarations and
/// piles as given (piles must sum to 8 minus the hand size), totals as one scored round.
pub fn at_trick(
    hands: [Vec<Kind>; SEATS],
    leader: Seat,
    declared: [u8; SEATS],
    piles: [u8; SEATS],
    totals: [i32; SEATS],
) -> State {
    let mut s = State::new(settings(50), 1);
    let in_hands: Vec<Kind> = hands.iter().flatten().copied().collect();
    let held = count_kinds(&in_hands);
    let mut played = [0u8; KINDS];
    for k in Kind::ALL {
        played[k.index()] = k.copies() - held[k.index()];
    }
    s.hands = hands;
    s.played = played;
    s.phase = Phase::Turn;
    s.round = 2;
    s.history = vec![totals];
    s.totals = totals;
    s.starter = Some(Starter {
        seat: leader,
        reason: StarterReason::WonLastTurn,
    });
    s.declarations = declared.map(Some);
    s.piles = piles;
    s.turn = leader;
    s.last_trick_winner = Some(leader);
    s.trick = Some(Trick {
        leader,
        count: 0,
        plays: Vec::new(),
        winner: None,
    });
    s
}

/// The first `n` deals of `seed`.
pub fn deals(seed: u64, n: usize) -> Vec<[Vec<Kind>; SEATS]> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| deal(&mut rng)).collect()
}

/// Weak seats of a deal, as a list.
pub fn weak_seats(hands: &[Vec<Kind>; SEATS]) -> Vec<Seat> {
    (0..SEATS as Seat)
        .filter(|&s| crate::pieces::is_weak(&hands[s as usize]))
        .collect()
}

/// The first seed whose first deals satisfy `pred`.
pub fn find_seed(n_deals: usize, pred: impl Fn(&[[Vec<Kind>; SEATS]]) -> bool) -> u64 {
    (0..100_000u64)
        .find(|&seed| pred(&deals(seed, n_deals)))
        .expect("some seed fits")
}

/// Where pieces may appear in a view: the viewer's own hand (equal to the state's), the legal
/// leads listed in the viewer's `can` (each drawn from that hand), and the public plays of the
/// trick on the table and the last trick (equal to the state's).
pub fn check_view(view: &Value, viewer: Viewer, state: &State) -> Result<(), String> {
    for banned in ["deal_rng", "seed", "hands", "deck", "rng", "played"] {
        if view.get(banned).is_some() {
            return Err(format!("the view has a `{banned}` field"));
        }
    }
    let mut found = Vec::new();
    walk(view, &mut Vec::new(), &mut found);
    // What the view may show, computed once: the viewer's hand and the public tricks.
    let own = match viewer {
        Viewer::Seat(s) => {
            serde_json::to_value(&state.hands[s as usize]).map_err(|e| e.to_string())?
        }
        Viewer::Spectator => Value::Null,
    };
    let trick = serde_json::to_value(&state.trick).map_err(|e| e.to_string())?;
    let last_trick = serde_json::to_value(&state.last_trick).map_err(|e| e.to_string())?;
    let hand_ok = !own.is_null() && view["hand"] == own;
    let leads_ok = match (viewer, view["can"]["play"]["plays"].as_array()) {
        (Viewer::Seat(s), Some(plays)) => plays.iter().all(|play| {
            let pieces: Vec<Kind> = serde_json::from_value(play.clone()).unwrap_or_default();
            let held = count_kinds(&state.hands[s as usize]);
            !pieces.is_empty() && count_kinds(&pieces).iter().zip(&held).all(|(n, h)| n <= h)
        }),
        _ => false,
    };
    let trick_ok = view["trick"] == trick;
    let last_ok = view["last_trick"] == last_trick;
    for path in found {
        let in_plays = path.len() == 5 && path[1] == "plays" && path[3] == "pieces";
        let allowed = match path.first().map(String::as_str) {
            Some("hand") => path.len() == 2 && hand_ok,
            Some("can") => path.len() == 5 && path[1] == "play" && path[2] == "plays" && leads_ok,
            Some("trick") => in_plays && trick_ok,
            Some("last_trick") => in_plays && last_ok,
            _ => false,
        };
        if !allowed {
            return Err(format!("{viewer:?} sees a piece at /{}", path.join("/")));
        }
    }
    if viewer == Viewer::Spectator && !view["hand"].is_null() {
        return Err("a spectator sees a hand".into());
    }
    let sizes: Vec<usize> = state.hands.iter().map(Vec::len).collect();
    if view["hand_sizes"] != serde_json::json!(sizes) {
        return Err("hand sizes are wrong".into());
    }
    Ok(())
}

/// Events may carry pieces only as a `dealt` hand addressed to one seat, or as a play.
pub fn check_events(events: &[Event]) -> Result<(), String> {
    for e in events {
        let json: Value = serde_json::from_str(&e.payload).map_err(|e| e.to_string())?;
        let mut found = Vec::new();
        walk(&json, &mut Vec::new(), &mut found);
        for path in found {
            let ok = match (json["type"].as_str(), path[0].as_str()) {
                (Some("dealt"), "hand") => matches!(e.audience, Audience::Seat(_)),
                (Some("played"), "pieces") => true,
                _ => false,
            };
            if !ok {
                return Err(format!(
                    "event {} to {:?} shows a piece at {path:?}",
                    e.payload, e.audience
                ));
            }
        }
    }
    Ok(())
}

fn walk(v: &Value, path: &mut Vec<String>, found: &mut Vec<Vec<String>>) {
    match v {
        Value::String(s) if Kind::parse(s).is_some() => found.push(path.clone()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                walk(item, path, found);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                path.push(k.clone());
                walk(item, path, found);
                path.pop();
            }
        }
        _ => {}
    }
}
