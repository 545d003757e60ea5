//! Sleeping until a request's intended send time with microsecond precision.
//!
//! monoio's timer wheel has millisecond ticks, which would add up to a millisecond of the
//! generator's own lateness to every coordinated-omission-corrected latency. A `timerfd` (an
//! hrtimer, no timer slack) read through io_uring wakes within microseconds instead. On the epoll
//! fallback driver, or if the timerfd cannot be made, the wheel is used.

use std::io;
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

/// Waits shorter than this are not worth a timer: the send happens right away.
const MIN_WAIT: Duration = Duration::from_micros(2);

/// A per-connection precise sleeper.
pub struct Pacer {
    /// The timerfd as a monoio file (io_uring only); `None`: use monoio's timer wheel.
    timer: Option<monoio::fs::File>,
    /// The raw timerfd, owned by `timer`.
    fd: i32,
    /// Buffer for the 8-byte expiration count.
    buf: Vec<u8>,
}

impl Pacer {
    /// A pacer; `precise` asks for the timerfd (only valid on the io_uring driver).
    pub fn new(precise: bool) -> Pacer {
        let mut p = Pacer {
            timer: None,
            fd: -1,
            buf: Vec::with_capacity(8),
        };
        if !precise {
            return p;
        }
        // SAFETY: plain syscall; the returned fd is owned by the File below.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return p;
        }
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        let std_file = unsafe { std::fs::File::from_raw_fd(fd) };
        if let Ok(f) = monoio::fs::File::from_std(std_file) {
            p.timer = Some(f);
            p.fd = fd;
        }
        p
    }

    /// Returns at `deadline` (at once if it has passed).
    pub async fn sleep_until(&mut self, deadline: Instant) {
        let now = Instant::now();
        let Some(wait) = deadline.checked_duration_since(now) else {
            return;
        };
        if wait < MIN_WAIT {
            return;
        }
        if self.timer.is_some() && self.precise_wait(wait).await.is_ok() {
            return;
        }
        // Fallback (or the timerfd failed: stop using it).
        self.timer = None;
        monoio::time::sleep_until(monoio::time::Instant::from_std(deadline)).await;
    }

    async fn precise_wait(&mut self, wait: Duration) -> io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: wait.as_secs() as libc::time_t,
                tv_nsec: wait.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: `fd` is our open timerfd; `spec` is a valid itimerspec.
        let rc = unsafe { libc::timerfd_settime(self.fd, 0, &spec, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let Some(timer) = self.timer.as_ref() else {
            return Err(io::Error::other("no timer"));
        };
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let (res, buf) = timer.read_at(buf, 0).await;
        self.buf = buf;
        match res? {
            8 => Ok(()),
            _ => Err(io::Error::other("short timerfd read")),
        }
    }
}
