//! The control channel: what reaches the main thread, which owns the running gateway. Signals are
//! forwarded into it by a small thread; shards send admin requests (reload) into it.

use futures_channel::oneshot;

/// The outcome of a reload: the settings that kept their old value, or why it was refused.
pub type ReloadResult = Result<Vec<String>, String>;

/// A message for the main thread.
#[derive(Debug)]
pub enum Control {
    /// A signal arrived (SIGTERM, SIGINT, SIGHUP).
    Signal(i32),
    /// `POST /admin/reload`: reload the configuration file and answer on the oneshot.
    Reload(oneshot::Sender<ReloadResult>),
}
