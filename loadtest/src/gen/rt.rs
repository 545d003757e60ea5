//! Building one monoio runtime per generator thread: io_uring when the kernel allows it, else epoll.

use std::io;

/// The runtime type: io_uring or epoll, both with timers.
pub type Rt = monoio::FusionRuntime<
    monoio::time::TimeDriver<monoio::IoUringDriver>,
    monoio::time::TimeDriver<monoio::LegacyDriver>,
>;

/// A runtime with timers; the flag says whether it is io_uring.
pub fn build() -> io::Result<(Rt, bool)> {
    let rt: Rt = match monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .with_entries(1024)
        .enable_timer()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()?
            .into(),
    };
    let uring = matches!(rt, monoio::FusionRuntime::Uring(_));
    Ok((rt, uring))
}
