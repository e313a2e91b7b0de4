//! The hostile mix of the soak benchmark (issue 9): clients that misbehave at fixed rates beside
//! the normal load, in the same process, so that they share the load generator's core while the
//! server has its own. What it does, by default:
//! - creates 2,000 waiting rooms up front, from 20 players that stay connected (so that
//!   `list_rooms` has something to list and the rooms are not abandoned);
//! - holds 500 idle sockets: half raw TCP that never send a byte (and reconnect when the server
//!   closes them), half WebSockets that say hello and then only answer pings ([`idle`]);
//! - runs 5 non-readers on busy rooms, 5 listers at their rate limit, 5 watch/leave togglers on
//!   normal rooms and 5 binary floods ([`abuse`]).
//!
//! It owns those clients' tasks and their [`Tally`]s, and knows of the normal load only the ids
//! of its rooms, which the non-readers and togglers aim at. Stopping it aborts every client and
//! reports per kind what it did and what the server answered.

mod abuse;
mod conn;
mod idle;
mod tally;

pub use tally::KindReport;

use std::sync::Arc;
use std::time::Duration;
use tally::Tally;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};

/// Longest wait for the waiting rooms to be created; the mix then goes on with what there is.
const CREATE_LIMIT: Duration = Duration::from_secs(120);
/// The idle clients' first connections are spread over this, rather than all at once.
const SPREAD: Duration = Duration::from_secs(1);

/// The mix's command line: each part's size and rate.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Hostile mix (with --hostile)")]
pub struct MixArgs {
    /// Run the hostile mix beside the normal load (the normal rooms are set up first).
    #[arg(long)]
    pub hostile: bool,
    /// Idle raw TCP sockets that never send a byte.
    #[arg(long, default_value_t = 250)]
    pub idle_raw: u32,
    /// Idle WebSockets that say hello, then only answer pings.
    #[arg(long, default_value_t = 250)]
    pub idle_ws: u32,
    /// Spectators of busy normal rooms that never read.
    #[arg(long, default_value_t = 5)]
    pub non_readers: u32,
    /// Clients sending `list_rooms` (of waiting rooms) at `--list-rate`.
    #[arg(long, default_value_t = 5)]
    pub listers: u32,
    /// `list_rooms` per second per lister; the default is the server's default rate limit (50
    /// frames a second, `list_rooms` costing 5).
    #[arg(long, default_value_t = 10.0)]
    pub list_rate: f64,
    /// Clients alternating `watch` and `leave` on a normal room at `--toggle-rate`.
    #[arg(long, default_value_t = 5)]
    pub togglers: u32,
    /// `watch` or `leave` frames per second per toggler; the default is the server's default
    /// rate limit.
    #[arg(long, default_value_t = 50.0)]
    pub toggle_rate: f64,
    /// Clients writing binary frames as fast as they can.
    #[arg(long, default_value_t = 5)]
    pub floods: u32,
    /// Waiting rooms created before the mix starts.
    #[arg(long, default_value_t = 2000)]
    pub waiting_rooms: u32,
    /// Players who create the waiting rooms (each creates its share, within its rate limit).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub room_creators: u32,
    /// Pause before a closed hostile client reconnects, ms: this fixes the rate of reconnections
    /// (and so of the floods, which the server closes within milliseconds).
    #[arg(long, default_value_t = 100)]
    pub reconnect_ms: u64,
    /// How long the mix runs before the normal load's play phase starts, s: by default as long
    /// as the server gives a raw socket to send its request, so the play phase sees them cycle.
    #[arg(long, default_value_t = 10)]
    pub mix_warmup_secs: u64,
}

/// The kinds of hostile client, in report order.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Creator,
    IdleRaw,
    IdleWs,
    NonReader,
    Lister,
    Toggler,
    Flood,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Creator,
        Kind::IdleRaw,
        Kind::IdleWs,
        Kind::NonReader,
        Kind::Lister,
        Kind::Toggler,
        Kind::Flood,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Creator => "room-creator",
            Kind::IdleRaw => "idle-raw",
            Kind::IdleWs => "idle-ws",
            Kind::NonReader => "non-reader",
            Kind::Lister => "lister",
            Kind::Toggler => "toggler",
            Kind::Flood => "flood",
        }
    }
}

/// The running mix.
pub struct Mix {
    tasks: JoinSet<()>,
    /// Per kind: its tally and how many clients it has.
    kinds: Vec<(Kind, Arc<Tally>, u32)>,
    waiting_rooms_asked: u32,
    waiting_rooms_created: u32,
    started: Instant,
}

/// What the mix did, per kind.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MixReport {
    /// Seconds from the mix's start (waiting rooms created) to its stop.
    pub secs: f64,
    /// Waiting rooms asked for.
    pub waiting_rooms_asked: u32,
    /// Waiting rooms created.
    pub waiting_rooms_created: u32,
    /// Each kind's counts.
    pub kinds: Vec<KindReport>,
}

impl Mix {
    /// Creates the waiting rooms, starts every hostile client and lets them run for the
    /// warm-up. `rooms` are quoted ids of normal rooms, which the non-readers and togglers watch
    /// (none: those kinds do not run).
    pub async fn start(args: &MixArgs, url: &Arc<str>, rooms: &[Arc<str>]) -> anyhow::Result<Mix> {
        let authority: Arc<str> = conn::authority(url)?.into();
        let pause = Duration::from_millis(args.reconnect_ms);
        let mut mix = Mix {
            tasks: JoinSet::new(),
            kinds: Vec::new(),
            waiting_rooms_asked: args.waiting_rooms,
            waiting_rooms_created: 0,
            started: Instant::now(),
        };
        let aimed = |n: u32| if rooms.is_empty() { 0 } else { n };
        for kind in Kind::ALL {
            let clients = match kind {
                Kind::Creator => args.room_creators.min(args.waiting_rooms),
                Kind::IdleRaw => args.idle_raw,
                Kind::IdleWs => args.idle_ws,
                Kind::NonReader => aimed(args.non_readers),
                Kind::Lister => args.listers,
                Kind::Toggler => aimed(args.togglers),
                Kind::Flood => args.floods,
            };
            mix.kinds.push((kind, Arc::new(Tally::default()), clients));
        }

        // The waiting rooms first: the listers are to list them from their first request.
        let (creators, creator_tally) = (mix.kinds[0].2, mix.kinds[0].1.clone());
        let mut created = Vec::new();
        for i in 0..creators {
            let share =
                args.waiting_rooms / creators + u32::from(i < args.waiting_rooms % creators);
            let (done, created_rx) = oneshot::channel();
            created.push(created_rx);
            mix.tasks.spawn(idle::creator(
                url.clone(),
                format!("soak-creator-{i}"),
                share,
                creator_tally.clone(),
                done,
                pause,
            ));
        }
        let count = async {
            let mut n = 0;
            for rx in created {
                n += rx.await.unwrap_or(0);
            }
            n
        };
        mix.waiting_rooms_created = timeout(CREATE_LIMIT, count).await.unwrap_or(0);

        for (kind, tally, clients) in mix.kinds.clone() {
            for i in 0..clients {
                // Spread the first connections of each kind over SPREAD.
                let delay = SPREAD.mul_f64(f64::from(i) / f64::from(clients));
                let client = abuse::Client {
                    url: url.clone(),
                    name: format!("soak-{}-{i}", kind.name()),
                    tally: tally.clone(),
                    pause,
                };
                // Non-readers watch the first normal rooms, togglers the next ones.
                let aim = |offset: u32| rooms[((offset + i) as usize) % rooms.len().max(1)].clone();
                let run: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = match kind {
                    Kind::Creator => continue,
                    Kind::IdleRaw => Box::pin(idle::raw(authority.clone(), tally.clone(), pause)),
                    Kind::IdleWs => Box::pin(idle::websocket(
                        url.clone(),
                        client.name,
                        tally.clone(),
                        pause,
                    )),
                    Kind::NonReader => Box::pin(abuse::non_reader(client, aim(0))),
                    Kind::Lister => Box::pin(abuse::lister(client, args.list_rate)),
                    Kind::Toggler => Box::pin(abuse::toggler(
                        client,
                        aim(args.non_readers),
                        args.toggle_rate,
                    )),
                    Kind::Flood => Box::pin(abuse::flood(client)),
                };
                mix.tasks.spawn(async move {
                    sleep(delay).await;
                    run.await;
                });
            }
        }
        sleep(Duration::from_secs(args.mix_warmup_secs)).await;
        Ok(mix)
    }

    /// Stops every hostile client and reports what each kind did.
    pub async fn stop(mut self) -> MixReport {
        let secs = self.started.elapsed().as_secs_f64();
        self.tasks.shutdown().await;
        MixReport {
            secs,
            waiting_rooms_asked: self.waiting_rooms_asked,
            waiting_rooms_created: self.waiting_rooms_created,
            kinds: self
                .kinds
                .iter()
                .map(|(kind, tally, clients)| tally.report(kind.name(), *clients))
                .collect(),
        }
    }
}

impl MixReport {
    /// A few lines per kind for a terminal.
    pub fn text(&self) -> String {
        let mut out = format!(
            "hostile mix: {:.1} s; waiting rooms {} of {} created\n",
            self.secs, self.waiting_rooms_created, self.waiting_rooms_asked
        );
        for kind in &self.kinds {
            out.push_str(&kind.text());
        }
        out
    }
}
