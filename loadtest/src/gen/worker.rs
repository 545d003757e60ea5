//! One generator thread: its own monoio runtime, its share of the connections, and its share of the
//! schedule.
//!
//! Open loop: the thread's schedule is a sequence of slots `start + phase + i * interval`. A
//! connection that is free claims the next slot, sleeps until its intended time and sends; latency
//! runs from the intended time, so when every connection is busy the slip of the schedule is
//! counted as latency (coordinated-omission correction) and nothing queues beyond one request per
//! connection. Closed loop: each connection sends its next request as soon as the last completed.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conn::{Conn, Exchange, Fail, Guard};
use super::pacer::Pacer;
use super::request::Template;
use super::stats::Stats;
use super::LoadConfig;

/// Pause after a failed connect in closed loop, so a dead target does not make a busy loop.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);
/// How often the watchdog looks for overdue requests.
const WATCHDOG_EVERY: Duration = Duration::from_millis(50);

/// Times shared by all threads of a run.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// When the schedule starts.
    pub start: Instant,
    /// Requests intended (open loop) or sent (closed loop) before this are warm-up, not recorded.
    pub measure_from: Instant,
    /// No slot is scheduled at or after this; closed loop stops sending.
    pub end: Instant,
    /// Late slots not sent by now are given up (`unsent`).
    pub give_up: Instant,
}

/// What a thread needs to know about its part.
pub struct Part {
    /// Thread index.
    pub index: usize,
    /// Connections on this thread.
    pub connections: usize,
    /// Told once every connection has been attempted (with whether the runtime is io_uring).
    pub ready: mpsc::Sender<bool>,
    /// Gives the shared clock.
    pub go: mpsc::Receiver<Clock>,
}

struct Shared {
    cfg: Arc<LoadConfig>,
    template: Arc<Template>,
    clock: Clock,
    thread: u64,
    threads: u64,
    /// Distance between this thread's slots, in ns (open loop).
    interval_ns: Option<u128>,
    /// Offset of this thread's first slot, in ns.
    phase_ns: u128,
    next_slot: Cell<u64>,
    next_id: Cell<u64>,
    uring: bool,
    stats: RefCell<Stats>,
}

impl Shared {
    /// Intended time of slot `i`.
    fn slot_time(&self, i: u64, interval: u128) -> Instant {
        let ns = self.phase_ns + u128::from(i) * interval;
        self.clock.start + Duration::from_nanos(ns.min(u128::from(u64::MAX)) as u64)
    }

    /// The next free slot's intended time; `None` once the schedule is over.
    fn claim(&self, interval: u128) -> Option<Instant> {
        let i = self.next_slot.get();
        let t = self.slot_time(i, interval);
        if t >= self.clock.end {
            return None;
        }
        self.next_slot.set(i + 1);
        Some(t)
    }

    fn next_id(&self) -> u64 {
        let n = self.next_id.get();
        self.next_id.set(n + 1);
        n * self.threads + self.thread
    }

    /// Records one exchange whose latency runs from `origin`.
    fn record(&self, ex: &Exchange, origin: Instant) {
        if origin < self.clock.measure_from {
            return;
        }
        let mut s = self.stats.borrow_mut();
        s.sent += 1;
        s.last_done = s.last_done.max(Some(ex.done_at));
        let lag = ex.sent_at.saturating_duration_since(origin).as_micros() as u64;
        s.lag.saturating_record(lag);
        match ex.result {
            Ok(done) if (200..300).contains(&done.status) => {
                s.ok += 1;
                let us = |t: Instant| t.saturating_duration_since(origin).as_micros() as u64;
                s.latency.saturating_record(us(ex.done_at).max(1));
                let service = ex.done_at.saturating_duration_since(ex.sent_at);
                s.service
                    .saturating_record((service.as_micros() as u64).max(1));
                if let Some(fb) = ex.first_byte {
                    s.ttfb.saturating_record(us(fb).max(1));
                }
            }
            Ok(done) => *s.status_errors.entry(done.status).or_insert(0) += 1,
            Err(Fail::Connect) => s.connect_errors += 1,
            Err(Fail::Io) => s.io_errors += 1,
            Err(Fail::Timeout) => s.timeouts += 1,
        }
    }
}

/// Runs one thread's part to the end and returns what it measured.
pub fn run(cfg: Arc<LoadConfig>, template: Arc<Template>, part: Part) -> Stats {
    let (mut rt, uring) = match super::rt::build() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("load: thread {}: no runtime: {e}", part.index);
            let _ = part.ready.send(false);
            return Stats::default();
        }
    };
    rt.block_on(async move {
        let mut conns = Vec::with_capacity(part.connections);
        for _ in 0..part.connections {
            let mut c = Conn::new(cfg.target.addr, &template);
            // A failed connect is retried (and counted) when the connection is first used.
            let _ = c.connect().await;
            conns.push(c);
        }
        let _ = part.ready.send(uring);
        let Ok(clock) = part.go.recv() else {
            return Stats::default();
        };
        let threads = cfg.threads as u64;
        let interval_ns = cfg
            .rate
            .map(|r| (1e9 * threads as f64 / r.max(1e-6)).round().max(1.0) as u128);
        let phase_ns = cfg
            .rate
            .map_or(0, |r| (1e9 * part.index as f64 / r.max(1e-6)) as u128);
        let shared = Rc::new(Shared {
            cfg: cfg.clone(),
            template,
            clock,
            thread: part.index as u64,
            threads,
            interval_ns,
            phase_ns,
            next_slot: Cell::new(0),
            next_id: Cell::new(0),
            uring,
            stats: RefCell::new(Stats::default()),
        });
        let guards = conns.iter().map(Conn::guard).collect();
        monoio::spawn(watchdog(guards, uring));
        let tasks: Vec<_> = conns
            .into_iter()
            .map(|c| monoio::spawn(drive(shared.clone(), c)))
            .collect();
        for t in tasks {
            t.await;
        }
        if let Some(interval) = shared.interval_ns {
            // Slots nobody claimed before giving up.
            let mut unclaimed = 0;
            let mut i = shared.next_slot.get();
            while shared.slot_time(i, interval) < shared.clock.end {
                unclaimed += 1;
                i += 1;
            }
            shared.stats.borrow_mut().unsent += unclaimed;
        }
        let stats = shared.stats.borrow().clone();
        stats
    })
}

/// Ends overdue exchanges of this thread's connections (runs until the runtime is dropped).
async fn watchdog(guards: Vec<Rc<Guard>>, uring: bool) {
    let mut pacer = Pacer::new(uring);
    loop {
        pacer.sleep_until(Instant::now() + WATCHDOG_EVERY).await;
        let now = Instant::now();
        for g in &guards {
            g.expire(now);
        }
    }
}

/// One connection's loop.
async fn drive(shared: Rc<Shared>, mut conn: Conn) {
    let timeout = shared.cfg.timeout;
    let template = shared.template.clone();
    match shared.interval_ns {
        Some(interval) => {
            let mut pacer = Pacer::new(shared.uring);
            while let Some(intended) = shared.claim(interval) {
                pacer.sleep_until(intended).await;
                if Instant::now() >= shared.clock.give_up {
                    shared.stats.borrow_mut().unsent += 1;
                    return;
                }
                let ex = conn.exchange(&template, shared.next_id(), timeout).await;
                shared.record(&ex, intended);
            }
        }
        None => {
            let mut pacer = Pacer::new(shared.uring);
            pacer.sleep_until(shared.clock.start).await;
            while Instant::now() < shared.clock.end {
                let ex = conn.exchange(&template, shared.next_id(), timeout).await;
                shared.record(&ex, ex.sent_at);
                if ex.result == Err(Fail::Connect) {
                    pacer.sleep_until(Instant::now() + CONNECT_BACKOFF).await;
                }
            }
        }
    }
}
