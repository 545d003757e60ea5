//! Shard-local shutdown signal: a flag plus the wakers of connections idling on keep-alive, so
//! that draining closes idle connections at once while in-flight requests finish.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use slab::Slab;

/// Set once when the shard starts draining; wakes every waiter.
#[derive(Default)]
pub struct Drain {
    draining: Cell<bool>,
    waiters: RefCell<Slab<std::task::Waker>>,
}

impl Drain {
    /// A signal that has not fired.
    pub fn new() -> Drain {
        Drain::default()
    }

    /// Whether draining has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.get()
    }

    /// Starts draining and wakes all waiters.
    pub fn start(&self) {
        self.draining.set(true);
        let waiters: Vec<_> = self.waiters.borrow_mut().drain().collect();
        for waker in waiters {
            waker.wake();
        }
    }

    /// Resolves when draining starts.
    pub fn wait(&self) -> DrainWait<'_> {
        DrainWait {
            drain: self,
            slot: None,
        }
    }
}

/// Future returned by [`Drain::wait`]; removes its waker when dropped, so abandoned waits leave
/// nothing behind.
pub struct DrainWait<'a> {
    drain: &'a Drain,
    slot: Option<usize>,
}

impl Future for DrainWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.drain.is_draining() {
            return Poll::Ready(());
        }
        let mut waiters = self.drain.waiters.borrow_mut();
        match self.slot {
            Some(slot) => {
                if let Some(w) = waiters.get_mut(slot) {
                    w.clone_from(cx.waker());
                }
            }
            None => {
                let slot = waiters.insert(cx.waker().clone());
                drop(waiters);
                self.slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

impl Drop for DrainWait<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            let mut waiters = self.drain.waiters.borrow_mut();
            if waiters.contains(slot) {
                waiters.remove(slot);
            }
        }
    }
}
