//! The dedicated embedding thread pool (SPEC §2, "off the hot path").
//!
//! Shards never run an embedder: a transformer takes milliseconds, which would stall every other
//! connection on the shard's event loop. A shard hands the text to the pool through a bounded
//! `crossbeam-channel` and awaits a `futures-channel` oneshot, which a worker completes from its
//! own thread (the oneshot's waker is thread-safe, so the shard's task is woken on its own loop).
//!
//! The queue is bounded and submission never waits: when it is full the caller gets
//! [`PoolError::Saturated`] at once and serves the request as a cache miss. That keeps the
//! cache's worst case at "no cache", never "slower than no cache". The pool counts those
//! refusals ([`EmbedPool::saturated_total`]) for the metrics.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use futures_channel::oneshot;

use crate::cache::embedder::Embedder;

/// Why a submission or an embedding did not produce a vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolError {
    /// The queue was full: treat the request as a cache miss (counted in
    /// [`EmbedPool::saturated_total`]).
    Saturated,
    /// The pool is shutting down, or dropped the job while stopping.
    Stopped,
    /// The embedder returned an error (or panicked) for this text.
    Failed(String),
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::Saturated => f.write_str("embedding pool saturated"),
            PoolError::Stopped => f.write_str("embedding pool stopped"),
            PoolError::Failed(e) => write!(f, "embedding failed: {e}"),
        }
    }
}

impl std::error::Error for PoolError {}

/// Work that runs on a pool thread with the pool's embedder, e.g. embedding a prompt and
/// inserting it into the index after a response was served (inserts stay off the hot path).
pub type Task = Box<dyn FnOnce(&dyn Embedder) + Send + 'static>;

enum Job {
    Embed {
        text: String,
        reply: oneshot::Sender<Result<Vec<f32>, String>>,
    },
    Run(Task),
}

/// Counters shared by the pool's handle and its workers.
#[derive(Default)]
struct Stats {
    saturated: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    /// Set on drop: workers then drop queued jobs instead of running them.
    stopping: AtomicBool,
}

/// N worker threads, each holding the same `Arc<dyn Embedder>`, fed by a bounded queue.
pub struct EmbedPool {
    /// `None` only during drop, to disconnect the channel before joining.
    tx: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
    stats: Arc<Stats>,
    name: String,
    dim: usize,
}

/// The answer to [`EmbedPool::try_embed`]: a future of the vector, resolved by a worker.
///
/// Dropping it abandons the job; a worker that has not started it yet skips it.
pub struct Pending {
    rx: oneshot::Receiver<Result<Vec<f32>, String>>,
}

impl Future for Pending {
    type Output = Result<Vec<f32>, PoolError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Ok(v))) => Poll::Ready(Ok(v)),
            Poll::Ready(Ok(Err(e))) => Poll::Ready(Err(PoolError::Failed(e))),
            // The worker dropped the reply sender: the pool stopped before running the job.
            Poll::Ready(Err(oneshot::Canceled)) => Poll::Ready(Err(PoolError::Stopped)),
        }
    }
}

impl EmbedPool {
    /// Starts `workers` threads (at least one) sharing `embedder`, behind a queue of `queue`
    /// jobs (at least one). A queue of a few jobs per worker is enough: a deeper one only adds
    /// waiting time to requests that would be faster as misses.
    pub fn new(embedder: Arc<dyn Embedder>, workers: usize, queue: usize) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(queue.max(1));
        let stats = Arc::new(Stats::default());
        let mut handles = Vec::with_capacity(workers.max(1));
        for i in 0..workers.max(1) {
            let rx = rx.clone();
            let embedder = Arc::clone(&embedder);
            let stats = Arc::clone(&stats);
            let spawned = std::thread::Builder::new()
                .name(format!("shardgate-embed-{i}"))
                .spawn(move || worker(rx, embedder, stats));
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    // Stop the workers already started before reporting the failure.
                    drop(tx);
                    for h in handles {
                        let _ = h.join();
                    }
                    return Err(e);
                }
            }
        }
        Ok(Self {
            tx: Some(tx),
            workers: handles,
            stats,
            name: embedder.name().to_string(),
            dim: embedder.dim(),
        })
    }

    /// Queues `text` for embedding without waiting; await the returned [`Pending`].
    /// A full queue returns [`PoolError::Saturated`] immediately.
    pub fn try_embed(&self, text: impl Into<String>) -> Result<Pending, PoolError> {
        let (reply, rx) = oneshot::channel();
        self.try_send(Job::Embed {
            text: text.into(),
            reply,
        })?;
        Ok(Pending { rx })
    }

    /// Queues `task` to run on a worker (fire and forget), e.g. an index insert after a
    /// response. A full queue returns [`PoolError::Saturated`] immediately.
    pub fn try_run(
        &self,
        task: impl FnOnce(&dyn Embedder) + Send + 'static,
    ) -> Result<(), PoolError> {
        self.try_send(Job::Run(Box::new(task)))
    }

    fn try_send(&self, job: Job) -> Result<(), PoolError> {
        let Some(tx) = &self.tx else {
            return Err(PoolError::Stopped);
        };
        match tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.stats.saturated.fetch_add(1, Ordering::Relaxed);
                Err(PoolError::Saturated)
            }
            Err(TrySendError::Disconnected(_)) => Err(PoolError::Stopped),
        }
    }

    /// Submissions refused because the queue was full, since start.
    pub fn saturated_total(&self) -> u64 {
        self.stats.saturated.load(Ordering::Relaxed)
    }

    /// Jobs finished successfully (embeddings returned, tasks run), since start.
    pub fn completed_total(&self) -> u64 {
        self.stats.done.load(Ordering::Relaxed)
    }

    /// Embeddings that failed or panicked, since start.
    pub fn failed_total(&self) -> u64 {
        self.stats.failed.load(Ordering::Relaxed)
    }

    /// Jobs waiting in the queue now.
    pub fn queued(&self) -> usize {
        self.tx.as_ref().map_or(0, Sender::len)
    }

    /// The embedder's name (stored with indexes built from this pool's vectors).
    pub fn embedder_name(&self) -> &str {
        &self.name
    }

    /// The embedder's vector length.
    pub fn dim(&self) -> usize {
        self.dim
    }
}

impl Drop for EmbedPool {
    /// Stops the workers: queued jobs are dropped (their awaiting callers get
    /// [`PoolError::Stopped`]), jobs already running finish, then the threads are joined.
    fn drop(&mut self) {
        self.stats.stopping.store(true, Ordering::Relaxed);
        self.tx = None;
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

fn worker(rx: Receiver<Job>, embedder: Arc<dyn Embedder>, stats: Arc<Stats>) {
    // `recv` fails once every sender is gone and the queue is empty: the pool was dropped.
    while let Ok(job) = rx.recv() {
        if stats.stopping.load(Ordering::Relaxed) {
            continue;
        }
        match job {
            Job::Embed { text, reply } => {
                // The request was cancelled (client gone, timeout) before its turn: skip it.
                if reply.is_canceled() {
                    continue;
                }
                let embedder = &*embedder;
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    embedder.embed(&text)
                }))
                .unwrap_or_else(|_| Err("embedder panicked".to_string()));
                let counter = if out.is_ok() {
                    &stats.done
                } else {
                    &stats.failed
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let _ = reply.send(out);
            }
            Job::Run(task) => {
                let embedder = &*embedder;
                // A panicking task must not take the worker down with it.
                let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task(embedder)))
                    .is_ok();
                let counter = if ok { &stats.done } else { &stats.failed };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::Mutex;
    use std::task::{Wake, Waker};
    use std::time::{Duration, Instant};

    /// A minimal executor: polls `fut` on this thread, parking between wake-ups.
    fn block_on<F: Future>(fut: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut fut = std::pin::pin!(fut);
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park_timeout(Duration::from_millis(100));
        }
    }

    /// Embeds as (length, first byte); fails on "fail", panics on "panic".
    struct Toy;
    impl Embedder for Toy {
        fn name(&self) -> &str {
            "toy"
        }
        fn dim(&self) -> usize {
            2
        }
        fn embed(&self, text: &str) -> Result<Vec<f32>, String> {
            match text {
                "fail" => Err("no".into()),
                "panic" => panic!("toy panic"),
                _ => Ok(vec![
                    text.len() as f32,
                    text.bytes().next().unwrap_or(0) as f32,
                ]),
            }
        }
    }

    /// Blocks every embed until the test releases it, to fill the queue on purpose.
    struct Gate {
        started: Mutex<mpsc::Sender<()>>,
        release: Mutex<mpsc::Receiver<()>>,
    }
    impl Embedder for Gate {
        fn name(&self) -> &str {
            "gate"
        }
        fn dim(&self) -> usize {
            1
        }
        fn embed(&self, _text: &str) -> Result<Vec<f32>, String> {
            let _ = self.started.lock().map(|s| s.send(()));
            let _ = self.release.lock().map(|r| r.recv());
            Ok(vec![1.0])
        }
    }

    #[test]
    fn results_come_back() {
        let pool = EmbedPool::new(Arc::new(Toy), 2, 8).expect("pool");
        assert_eq!((pool.embedder_name(), pool.dim()), ("toy", 2));
        let pending: Vec<_> = ["a", "bb", "ccc"]
            .iter()
            .map(|t| pool.try_embed(*t).expect("queued"))
            .collect();
        let got: Vec<_> = pending.into_iter().map(block_on).collect();
        assert_eq!(
            got,
            vec![
                Ok(vec![1.0, 97.0]),
                Ok(vec![2.0, 98.0]),
                Ok(vec![3.0, 99.0])
            ]
        );
        assert_eq!(
            block_on(pool.try_embed("fail").expect("queued")),
            Err(PoolError::Failed("no".into()))
        );
        // A panicking embedder is reported, and the worker survives it.
        assert!(matches!(
            block_on(pool.try_embed("panic").expect("queued")),
            Err(PoolError::Failed(_))
        ));
        assert_eq!(
            block_on(pool.try_embed("z").expect("queued")),
            Ok(vec![1.0, 122.0])
        );
        // Fire-and-forget tasks run with the embedder.
        let (tx, rx) = mpsc::channel();
        pool.try_run(move |e| {
            let _ = tx.send(e.embed("xy"));
        })
        .expect("queued");
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok(Ok(vec![2.0, 120.0]))
        );
        assert_eq!(pool.saturated_total(), 0);
        // The task's own count may land just after its message; the four embeddings are counted.
        assert!(pool.completed_total() >= 4);
        assert_eq!(pool.failed_total(), 2);
    }

    #[test]
    fn saturation_is_reported_without_blocking() {
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        let gate = Arc::new(Gate {
            started: Mutex::new(started_tx),
            release: Mutex::new(release_rx),
        });
        let pool = EmbedPool::new(gate, 1, 2).expect("pool");
        // The worker takes the first job and blocks in it; two more fill the queue.
        let first = pool.try_embed("1").expect("queued");
        started_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("worker started");
        let queued: Vec<_> = (0..2)
            .map(|_| pool.try_embed("q").expect("queued"))
            .collect();
        let t = Instant::now();
        let refused = pool.try_embed("over");
        assert!(matches!(refused, Err(PoolError::Saturated)));
        assert!(pool.try_run(|_| {}).is_err());
        // "At once": far below the time any embedding takes.
        assert!(t.elapsed() < Duration::from_millis(50), "{:?}", t.elapsed());
        assert_eq!(pool.saturated_total(), 2);
        assert_eq!(pool.queued(), 2);
        for _ in 0..3 {
            let _ = release_tx.send(());
        }
        assert_eq!(block_on(first), Ok(vec![1.0]));
        for p in queued {
            assert_eq!(block_on(p), Ok(vec![1.0]));
        }
        // Room again once the backlog is gone.
        let again = pool.try_embed("again").expect("queued");
        let _ = release_tx.send(());
        assert_eq!(block_on(again), Ok(vec![1.0]));
    }

    #[test]
    fn workers_stop_when_the_pool_is_dropped() {
        let embedder: Arc<dyn Embedder> = Arc::new(Toy);
        let pool = EmbedPool::new(Arc::clone(&embedder), 3, 4).expect("pool");
        // One reference per worker plus the test's own.
        assert_eq!(Arc::strong_count(&embedder), 3 + 1);
        assert_eq!(
            block_on(pool.try_embed("a").expect("queued")),
            Ok(vec![1.0, 97.0])
        );
        drop(pool);
        // Every worker has exited and released its reference.
        assert_eq!(Arc::strong_count(&embedder), 1);
    }

    #[test]
    fn queued_jobs_are_cancelled_by_drop() {
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        let gate = Arc::new(Gate {
            started: Mutex::new(started_tx),
            release: Mutex::new(release_rx),
        });
        let pool = EmbedPool::new(gate, 1, 4).expect("pool");
        let running = pool.try_embed("1").expect("queued");
        started_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("worker started");
        let waiting = pool.try_embed("2").expect("queued");
        // Release the running job from another thread while drop waits for the worker.
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let _ = release_tx.send(());
        });
        drop(pool);
        let _ = releaser.join();
        assert_eq!(block_on(running), Ok(vec![1.0]));
        assert_eq!(block_on(waiting), Err(PoolError::Stopped));
    }
}
