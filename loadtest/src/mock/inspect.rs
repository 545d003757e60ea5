//! Inspection: what the mock received, for tests that check what a gateway sent upstream.
//!
//! `GET /_mock/requests` answers
//! `{"requests":[{"method","path","headers":[[name,value],...],"body"}],"connections":N}` (requests in
//! arrival order across all threads, oldest first; `path` includes the query string; `body` is the
//! decoded body as lossy UTF-8; `connections` counts TCP connections accepted since start or the last
//! reset, the asking one included). `DELETE /_mock/requests` or `POST /_mock/reset` clears both.
//!
//! Recording is test machinery: each thread appends to its own `Mutex<VecDeque>` (uncontended but for
//! the rare inspection call), capped at the newest `cap` requests per thread. It is off with
//! `--no-record`, so load tests pay only one branch. The connection counter is an `AtomicU64`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

use super::http::Request;

/// One recorded request.
#[derive(Serialize)]
pub struct Record {
    /// Request method.
    pub method: String,
    /// Request target (path and query).
    pub path: String,
    /// Header fields, in order, as `[name, value]` pairs.
    pub headers: Vec<(String, String)>,
    /// Body (decoded if it was chunked), lossy UTF-8.
    pub body: String,
}

/// State shared by all mock threads.
pub struct Shared {
    /// Per-thread records, tagged with a global arrival sequence number.
    records: Vec<Mutex<VecDeque<(u64, Record)>>>,
    /// Next arrival sequence number.
    seq: AtomicU64,
    /// TCP connections accepted since start or reset.
    connections: AtomicU64,
    /// Whether requests are recorded at all.
    enabled: bool,
    /// Records kept per thread.
    cap: usize,
    /// Requests seen per `flakyN` model name since start or reset.
    flaky: Mutex<std::collections::HashMap<String, u32>>,
}

/// The JSON answer of `GET /_mock/requests`.
#[derive(Serialize)]
struct Snapshot<'a> {
    requests: Vec<&'a Record>,
    connections: u64,
}

impl Shared {
    /// State for `threads` threads; `enabled` turns recording on, keeping `cap` records per thread.
    pub fn new(threads: usize, enabled: bool, cap: usize) -> Self {
        Self {
            records: (0..threads.max(1))
                .map(|_| Mutex::new(VecDeque::new()))
                .collect(),
            seq: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            enabled: enabled && cap > 0,
            cap,
            flaky: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Counts one accepted connection.
    pub fn count_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether requests are recorded.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Records `req` as received by `thread`.
    pub fn record(&self, thread: usize, req: &Request<'_>) {
        if !self.enabled {
            return;
        }
        let rec = Record {
            method: req.method.to_string(),
            path: req.target.to_string(),
            headers: req
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(req.body).into_owned(),
        };
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let Some(slot) = self.records.get(thread) else {
            return;
        };
        let mut q = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if q.len() >= self.cap {
            q.pop_front();
        }
        q.push_back((seq, rec));
    }

    /// Writes the inspection JSON into `out`.
    pub fn snapshot_json(&self, out: &mut Vec<u8>) {
        let guards: Vec<_> = self
            .records
            .iter()
            .map(|m| m.lock().unwrap_or_else(PoisonError::into_inner))
            .collect();
        let mut all: Vec<&(u64, Record)> = guards.iter().flat_map(|q| q.iter()).collect();
        all.sort_unstable_by_key(|(seq, _)| *seq);
        let snap = Snapshot {
            requests: all.into_iter().map(|(_, r)| r).collect(),
            connections: self.connections.load(Ordering::Relaxed),
        };
        // Serializing plain strings and numbers into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &snap);
    }

    /// Counts a request for a `flakyN` model; returns how many there were, this one included.
    pub fn flaky_hit(&self, model: &str) -> u32 {
        let mut seen = self.flaky.lock().unwrap_or_else(PoisonError::into_inner);
        let n = seen.entry(model.to_string()).or_insert(0);
        *n += 1;
        *n
    }

    /// Clears the records, the connection counter and the `flakyN` counts.
    pub fn reset(&self) {
        self.flaky
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        for m in &self.records {
            m.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
        self.connections.store(0, Ordering::Relaxed);
    }
}
