//! How the state moves (spec §3 and §5): the first deal, players' actions, timers, scoring and
//! the end of the game.
//!
//! Every phase change goes through `State::enter`, which only makes the changes declared in
//! [`Phase::TRANSITIONS`]. Every pause — even one of 0 ms — is a timer the host fires
//! (`wake_at = now + delay`), so every transition is its own recorded step and a replay of the
//! log reproduces the game exactly. Errors leave the state to be thrown away by the SDK, so
//! handlers check before they change anything only where that makes the code clearer.

use crate::events::{Event, seats_in};
use crate::options::Settings;
use crate::pieces::{KINDS, Kind, SEATS, deal, is_weak, missing_from_hand, remove_from_hand};
use crate::plays::{MAX_PLAY, classify, trick_winner, why_invalid};
use crate::state::{
    Pause, Phase, Play, Poll, Starter, StarterReason, State, Timer, Trick, ix, next_seat,
};
use tabula_sdk::{Audience, Ctx, Rng, RuleError, Seat};

/// A round's score for one player before the multiplier (spec §3.5).
pub fn round_score(declared: u8, captured: u8) -> i32 {
    let (d, c) = (i32::from(declared), i32::from(captured));
    match (d, c) {
        (0, 0) => 3,
        (0, c) => -c,
        (d, c) if d == c => d + 5,
        (d, c) => -(d - c).abs(),
    }
}

impl State {
    /// A game before its first deal: round 1, in `preparation`.
    pub(crate) fn new(settings: Settings, seed: u64) -> State {
        State {
            config: settings.config,
            deal_rng: Rng::new(seed),
            phase: Phase::Preparation,
            round: 1,
            multiplier: 1,
            hands: Default::default(),
            played: [0; KINDS],
            poll: None,
            accepter: None,
            starter: None,
            declarations: [None; SEATS],
            zero_streak: [0; SEATS],
            piles: [0; SEATS],
            turn: 0,
            trick: None,
            last_trick: None,
            last_trick_winner: None,
            totals: [0; SEATS],
            history: Vec::new(),
            timer: None,
            winners: Vec::new(),
            max_rounds: settings.max_rounds,
        }
    }

    /// A new game: round 1's first deal.
    pub(crate) fn start(settings: Settings, seed: u64, ctx: &mut Ctx) -> State {
        let mut state = State::new(settings, seed);
        state.deal(ctx);
        state
    }

    fn enter(&mut self, to: Phase, ctx: &mut Ctx) {
        debug_assert!(
            Phase::TRANSITIONS.contains(&(self.phase.as_str(), to.as_str())),
            "undeclared transition {} -> {}",
            self.phase.as_str(),
            to.as_str()
        );
        self.phase = to;
        ctx.emit(
            Audience::Everyone,
            &Event::Phase {
                phase: to.as_str(),
                round: self.round,
            },
        );
    }

    fn schedule(&mut self, pause: Pause, delay_ms: u32, ctx: &Ctx) {
        self.timer = Some(Timer {
            at: ctx.now().saturating_add(u64::from(delay_ms)),
            pause,
        });
    }

    /// Deals four hands (spec §3.1 step 1), then asks the weak players or schedules round_start.
    fn deal(&mut self, ctx: &mut Ctx) {
        self.hands = deal(&mut self.deal_rng);
        for (seat, hand) in self.hands.iter().enumerate() {
            let dealt = Event::Dealt {
                round: self.round,
                multiplier: self.multiplier,
                hand: Some(hand),
            };
            ctx.emit(Audience::Seat(seat as Seat), &dealt);
        }
        let dealt = Event::Dealt {
            round: self.round,
            multiplier: self.multiplier,
            hand: None,
        };
        ctx.emit(Audience::Spectators, &dealt);

        let weak = (0..SEATS)
            .filter(|&s| is_weak(&self.hands[s]))
            .fold(0u8, |mask, s| mask | 1 << s);
        if weak == 0 {
            let (pause, delay) = match self.accepter {
                Some(_) => (Pause::Redealt, self.config.redeal_ms),
                None => (Pause::Deal, self.config.deal_ms),
            };
            self.schedule(pause, delay, ctx);
            return;
        }
        // Play order, to find the first accepter (spec §3.1 step 4).
        let order_from = match self.accepter {
            Some(seat) => seat,
            None if self.round == 1 => self.holder_of(Kind::GeneralRed),
            None => self.last_trick_winner.unwrap_or(0),
        };
        self.poll = Some(Poll {
            weak,
            answered: 0,
            accepted: 0,
            order_from,
        });
        self.schedule(Pause::RedealDecision, self.config.redeal_timeout_ms, ctx);
        let asked = Event::RedealAsked {
            weak: seats_in(weak),
            deadline: self.timer.map_or(0, |t| t.at),
        };
        ctx.emit(Audience::Everyone, &asked);
    }

    fn holder_of(&self, kind: Kind) -> Seat {
        self.hands
            .iter()
            .position(|h| h.contains(&kind))
            .unwrap_or(0) as Seat
    }

    /// A weak player's redeal answer (spec §3.1 step 3).
    pub(crate) fn answer_redeal(
        &mut self,
        seat: Seat,
        accept: bool,
        ctx: &mut Ctx,
    ) -> Result<(), RuleError> {
        let Some(poll) = self.poll.as_mut() else {
            return Err(RuleError::illegal("there is no redeal to decide now"));
        };
        let bit = 1u8 << ix(seat);
        if poll.weak & bit == 0 {
            return Err(RuleError::illegal(
                "only players with a weak hand decide on a redeal",
            ));
        }
        if poll.answered & bit != 0 {
            return Err(RuleError::illegal("you have already answered this redeal"));
        }
        poll.answered |= bit;
        if accept {
            poll.accepted |= bit;
        }
        let all_answered = poll.answered == poll.weak;
        ctx.emit(Audience::Everyone, &Event::RedealAnswered { seat });
        if all_answered {
            self.close_poll(0, ctx);
        }
        Ok(())
    }

    /// Every weak player has answered (or timed out, the seats in `timed_out`): redeal, or go on
    /// with these hands (spec §3.1 step 4).
    fn close_poll(&mut self, timed_out: u8, ctx: &mut Ctx) {
        let Some(poll) = self.poll.take() else {
            return;
        };
        self.timer = None;
        let declined = seats_in(poll.weak & !poll.accepted);
        let timed_out = seats_in(timed_out);
        if poll.accepted == 0 {
            ctx.emit(
                Audience::Everyone,
                &Event::RedealDeclined {
                    declined,
                    timed_out,
                },
            );
            self.schedule(Pause::Declined, self.config.declined_ms, ctx);
            return;
        }
        let first = (0..SEATS as Seat)
            .map(|k| ix(poll.order_from + k) as Seat)
            .find(|&s| poll.accepted & (1 << s) != 0)
            .unwrap_or(poll.order_from);
        self.accepter = Some(first);
        self.multiplier = self.multiplier.saturating_add(1);
        ctx.emit(
            Audience::Everyone,
            &Event::RedealAccepted {
                starter: first,
                accepted: seats_in(poll.accepted),
                declined,
                timed_out,
                multiplier: self.multiplier,
            },
        );
        self.deal(ctx);
    }

    /// Preparation is over: the starter is known (spec §3.2).
    fn round_start(&mut self, ctx: &mut Ctx) {
        let starter = match self.accepter {
            Some(seat) => Starter {
                seat,
                reason: StarterReason::AcceptedRedeal,
            },
            None if self.round == 1 => Starter {
                seat: self.holder_of(Kind::GeneralRed),
                reason: StarterReason::HasGeneralRed,
            },
            None => Starter {
                seat: self.last_trick_winner.unwrap_or(0),
                reason: StarterReason::WonLastTurn,
            },
        };
        self.starter = Some(starter);
        self.enter(Phase::RoundStart, ctx);
        ctx.emit(
            Audience::Everyone,
            &Event::RoundStarted {
                round: self.round,
                starter: starter.seat,
                reason: starter.reason,
                multiplier: self.multiplier,
            },
        );
        self.schedule(Pause::RoundStart, self.config.round_start_ms, ctx);
    }

    /// A declaration (spec §3.3).
    pub(crate) fn declare(
        &mut self,
        seat: Seat,
        value: i64,
        ctx: &mut Ctx,
    ) -> Result<(), RuleError> {
        if self.phase != Phase::Declaration {
            return Err(RuleError::illegal("it is not time to declare"));
        }
        if let Some(reason) = self.declaration_error(seat, value) {
            return Err(RuleError::illegal(reason));
        }
        let value = u8::try_from(value)
            .map_err(|_| RuleError::illegal("declare a number of piles from 0 to 8"))?;
        self.declarations[ix(seat)] = Some(value);
        let streak = &mut self.zero_streak[ix(seat)];
        *streak = if value == 0 {
            streak.saturating_add(1)
        } else {
            0
        };
        ctx.emit(Audience::Everyone, &Event::Declared { seat, value });
        self.turn = next_seat(seat);
        if self.declarations.iter().all(Option::is_some) {
            let leader = self.starter.map_or(self.turn, |s| s.seat);
            self.turn = leader;
            self.trick = Some(Trick {
                leader,
                count: 0,
                plays: Vec::with_capacity(SEATS),
                winner: None,
            });
            self.enter(Phase::Turn, ctx);
        }
        Ok(())
    }

    /// A lead or a follow (spec §3.4).
    pub(crate) fn play(
        &mut self,
        seat: Seat,
        pieces: Vec<Kind>,
        ctx: &mut Ctx,
    ) -> Result<(), RuleError> {
        let (Phase::Turn, None, Some(trick)) = (self.phase, self.timer, self.trick.as_mut()) else {
            return Err(RuleError::illegal("it is not time to play pieces"));
        };
        let hand = &mut self.hands[ix(seat)];
        let play_type = if trick.plays.is_empty() {
            if pieces.is_empty() || pieces.len() > MAX_PLAY {
                return Err(RuleError::illegal("you must lead 1 to 6 pieces"));
            }
            if let Some(reason) = missing_from_hand(hand, &pieces) {
                return Err(RuleError::Illegal(reason));
            }
            let play_type = classify(&pieces).ok_or_else(|| {
                RuleError::illegal(format!(
                    "that is not a valid play: {}",
                    why_invalid(&pieces)
                ))
            })?;
            trick.count = pieces.len() as u8;
            Some(play_type)
        } else {
            let n = usize::from(trick.count);
            if pieces.len() != n {
                let plural = if n == 1 { "piece" } else { "pieces" };
                return Err(RuleError::illegal(format!("you must play {n} {plural}")));
            }
            if let Some(reason) = missing_from_hand(hand, &pieces) {
                return Err(RuleError::Illegal(reason));
            }
            classify(&pieces)
        };
        remove_from_hand(hand, &pieces);
        for k in &pieces {
            self.played[k.index()] += 1;
        }
        ctx.emit(
            Audience::Everyone,
            &Event::Played {
                seat,
                pieces: &pieces,
                play_type,
            },
        );
        trick.plays.push(Play {
            seat,
            pieces,
            play_type,
        });
        if trick.plays.len() < SEATS {
            self.turn = next_seat(seat);
            return Ok(());
        }
        // The fourth play: resolve at once; the pauses that follow are display time.
        let winner = trick_winner(trick.plays.iter().map(|p| (p.seat, p.pieces.as_slice())))
            .unwrap_or(trick.leader);
        trick.winner = Some(winner);
        let won = Event::TrickWon {
            seat: winner,
            piles: trick.count,
            play_type: trick
                .plays
                .iter()
                .find(|p| p.seat == winner)
                .and_then(|p| p.play_type),
        };
        self.piles[ix(winner)] += trick.count;
        self.last_trick_winner = Some(winner);
        self.turn = winner;
        ctx.emit(Audience::Everyone, &won);
        self.schedule(Pause::Trick, self.config.trick_ms, ctx);
        Ok(())
    }

    /// The pending timer fires.
    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx) -> Result<(), RuleError> {
        let Some(timer) = self.timer else {
            return Err(RuleError::illegal("no timer is pending"));
        };
        if ctx.now() < timer.at {
            return Err(RuleError::illegal(format!(
                "the timer is due at {}, not at {}",
                timer.at,
                ctx.now()
            )));
        }
        self.timer = None;
        match timer.pause {
            Pause::Deal | Pause::Redealt | Pause::Declined => self.round_start(ctx),
            Pause::RedealDecision => {
                // Undecided weak players decline (spec §3.1 step 3).
                let timed_out = self.poll.map_or(0, |p| p.weak & !p.answered);
                if let Some(poll) = self.poll.as_mut() {
                    poll.answered = poll.weak;
                }
                self.close_poll(timed_out, ctx);
            }
            Pause::RoundStart => {
                self.turn = self.starter.map_or(0, |s| s.seat);
                self.enter(Phase::Declaration, ctx);
            }
            Pause::Trick if self.hands.iter().all(Vec::is_empty) => {
                self.last_trick = self.trick.take();
                self.enter(Phase::TurnResults, ctx);
                self.schedule(Pause::TurnResults, self.config.turn_results_ms, ctx);
            }
            Pause::Trick => self.schedule(Pause::TrickResult, self.config.trick_result_ms, ctx),
            Pause::TrickResult => {
                let leader = self.turn;
                let next = Trick {
                    leader,
                    count: 0,
                    plays: Vec::with_capacity(SEATS),
                    winner: None,
                };
                self.last_trick = self.trick.replace(next);
            }
            Pause::TurnResults => {
                self.enter(Phase::Scoring, ctx);
                self.score_round(ctx);
                self.schedule(Pause::Scoring, self.config.scoring_ms, ctx);
            }
            Pause::Scoring => self.end_round(ctx),
        }
        Ok(())
    }

    /// Scores the round with its multiplier (spec §3.5).
    fn score_round(&mut self, ctx: &mut Ctx) {
        let multiplier = i32::try_from(self.multiplier).unwrap_or(i32::MAX);
        let declared = self.declarations.map(|d| d.unwrap_or(0));
        let mut scores = [0i32; SEATS];
        for s in 0..SEATS {
            scores[s] = round_score(declared[s], self.piles[s]).saturating_mul(multiplier);
            self.totals[s] = self.totals[s].saturating_add(scores[s]);
        }
        self.history.push(scores);
        ctx.emit(
            Audience::Everyone,
            &Event::RoundScored {
                round: self.round,
                multiplier: self.multiplier,
                declared,
                captured: self.piles,
                scores,
                totals: self.totals,
            },
        );
    }

    /// After scoring: the game is over when a total reached the win score (spec §3.6) or the
    /// round limit's last round was played, otherwise the next round is dealt. Either way the
    /// highest totals win.
    fn end_round(&mut self, ctx: &mut Ctx) {
        if let Some(reason) = self.end_reason() {
            self.winners = self.leaders();
            self.enter(Phase::GameOver, ctx);
            let over = Event::GameOver {
                winners: &self.winners,
                scores: self.totals,
                reason,
            };
            ctx.emit(Audience::Everyone, &over);
            return;
        }
        self.round += 1;
        self.multiplier = 1;
        self.accepter = None;
        self.starter = None;
        self.declarations = [None; SEATS];
        self.piles = [0; SEATS];
        self.played = [0; KINDS];
        self.last_trick = None;
        self.enter(Phase::Preparation, ctx);
        self.deal(ctx);
    }
}
