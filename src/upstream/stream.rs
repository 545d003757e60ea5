//! A connection to a provider: plain TCP or TLS over TCP, behind one type.

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio::BufResult;

/// An established upstream connection.
pub enum UpstreamStream {
    /// Cleartext HTTP.
    Plain(TcpStream),
    /// HTTPS (boxed: the TLS state is large and rarely moved).
    Tls(Box<monoio_rustls::ClientTlsStream<TcpStream>>),
}

impl UpstreamStream {
    /// Reads into `buf` (at its write pointer: pass a `SliceMut` to append).
    pub async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpstreamStream::Plain(s) => s.read(buf).await,
            UpstreamStream::Tls(s) => s.read(buf).await,
        }
    }

    /// Writes all of `buf`.
    pub async fn write_all<T: IoBuf + 'static>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpstreamStream::Plain(s) => s.write_all(buf).await,
            UpstreamStream::Tls(s) => s.write_all(buf).await,
        }
    }
}
