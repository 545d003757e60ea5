//! Test helpers: start the built `loadtest mock` on a free port (plain or HTTPS with a certificate
//! made on the spot), and a tiny blocking HTTP/1.1 client (std, plus a rustls client for HTTPS) that
//! keeps the raw chunk boundaries of streamed responses.

#![allow(dead_code)]

pub mod cert;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned, SupportedProtocolVersion};

/// A running mock; killed on drop.
pub struct Mock {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Set when the mock serves HTTPS: its certificate and key files, and a client trusting them.
    pub tls: Option<TlsFiles>,
}

/// The certificate of an HTTPS mock: PEM files in a directory removed on drop.
pub struct TlsFiles {
    /// The directory holding the files.
    pub dir: PathBuf,
    /// `cert.pem`.
    pub cert: PathBuf,
    /// `key.pem`.
    pub key: PathBuf,
    /// The certificate itself, DER (for a client's root store).
    pub cert_der: rustls::pki_types::CertificateDer<'static>,
}

impl TlsFiles {
    /// Writes a fresh self-signed `localhost` / `127.0.0.1` certificate and key to a new directory.
    pub fn generate() -> TlsFiles {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "mock-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create cert dir");
        let c = cert::localhost();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &c.cert_pem).expect("write cert");
        std::fs::write(&key, &c.key_pem).expect("write key");
        TlsFiles {
            dir,
            cert,
            key,
            cert_der: c.cert_der,
        }
    }

    /// A rustls client config trusting only this certificate, offering `versions` and ALPN
    /// `h2`, `http/1.1`.
    pub fn client(&self, versions: &[&'static SupportedProtocolVersion]) -> Arc<ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert_der.clone()).expect("add root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Mock {
    /// Starts `loadtest mock --listen 127.0.0.1:0 ARGS...` and waits for its `listening on` line.
    pub fn start(args: &[&str]) -> Mock {
        Self::spawn(args, None)
    }

    /// Like [`Mock::start`], serving HTTPS with a freshly generated certificate; [`Mock::connect`]
    /// then connects with TLS (1.2 or 1.3, server name `localhost`).
    pub fn start_tls(args: &[&str]) -> Mock {
        Self::spawn(args, Some(TlsFiles::generate()))
    }

    fn spawn(args: &[&str], tls: Option<TlsFiles>) -> Mock {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadtest"));
        cmd.args(["mock", "--listen", "127.0.0.1:0"]).args(args);
        if let Some(t) = &tls {
            cmd.arg("--tls-cert")
                .arg(&t.cert)
                .arg("--tls-key")
                .arg(&t.key);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn loadtest mock");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read listening line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Mock { child, addr, tls }
    }

    /// A new connection to the mock (TLS if it serves HTTPS).
    pub fn connect(&self) -> Conn {
        match &self.tls {
            None => Conn::new(&self.addr),
            Some(t) => Conn::new_tls(&self.addr, "localhost", t.client(rustls::DEFAULT_VERSIONS)),
        }
    }

    /// One request on a fresh connection.
    pub fn req(&self, method: &str, path: &str, body: &str) -> Resp {
        self.connect().req(method, path, &[], body)
    }

    /// `POST path` with a JSON body, parsed as JSON, asserting status 200.
    pub fn post_json(&self, path: &str, body: &str) -> serde_json::Value {
        let r = self.req("POST", path, body);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r.json()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Header fields, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
    /// The body's HTTP chunks, when it was chunked.
    pub chunks: Vec<Vec<u8>>,
    /// Whether a chunked body ended with the last-chunk marker (false: the connection dropped).
    pub complete: bool,
}

impl Resp {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// SSE events of the body as `(event name, data)`.
    pub fn sse(&self) -> Vec<(Option<String>, String)> {
        let text = self.text().replace("\r\n", "\n");
        text.split("\n\n")
            .filter(|e| !e.trim().is_empty())
            .map(|e| {
                let mut name = None;
                let mut data = String::new();
                for line in e.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_string());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                (name, data)
            })
            .collect()
    }

    /// The JSON data of every SSE event except `[DONE]`.
    pub fn sse_json(&self) -> Vec<serde_json::Value> {
        self.sse()
            .into_iter()
            .filter(|(_, d)| d != "[DONE]")
            .map(|(_, d)| serde_json::from_str(&d).unwrap_or_else(|e| panic!("{e}: {d}")))
            .collect()
    }
}

/// A byte stream the client can use: a socket, or rustls over one.
pub trait Transport: Read + Write + Send {}

impl<T: Read + Write + Send> Transport for T {}

/// One keep-alive connection.
pub struct Conn {
    /// Reader over the transport; writes go to `reader.get_mut()` (BufReader buffers reads only).
    reader: BufReader<Box<dyn Transport>>,
    /// The socket underneath (for socket options; writing to it directly would bypass TLS).
    pub stream: TcpStream,
    /// For TLS: the negotiated protocol version.
    pub tls_version: Option<rustls::ProtocolVersion>,
    /// For TLS: the ALPN protocol the server chose, if any.
    pub alpn: Option<Vec<u8>>,
}

impl Conn {
    fn socket(addr: &str) -> TcpStream {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        stream
    }

    /// Connects to `addr`.
    pub fn new(addr: &str) -> Conn {
        let stream = Self::socket(addr);
        Conn {
            reader: BufReader::new(Box::new(stream.try_clone().expect("clone"))),
            stream,
            tls_version: None,
            alpn: None,
        }
    }

    /// Connects to `addr` with TLS, verifying the certificate for `server_name`; the handshake is
    /// completed here (an `Err` is its failure).
    pub fn try_new_tls(
        addr: &str,
        server_name: &str,
        config: Arc<ClientConfig>,
    ) -> Result<Conn, std::io::Error> {
        let stream = Self::socket(addr);
        let name = ServerName::try_from(server_name.to_string()).expect("server name");
        let mut tls = ClientConnection::new(config, name).expect("client connection");
        let mut sock = stream.try_clone()?;
        while tls.is_handshaking() {
            tls.complete_io(&mut sock)?;
        }
        let (tls_version, alpn) = (
            tls.protocol_version(),
            tls.alpn_protocol().map(<[u8]>::to_vec),
        );
        Ok(Conn {
            reader: BufReader::new(Box::new(StreamOwned::new(tls, sock))),
            stream,
            tls_version,
            alpn,
        })
    }

    /// [`Conn::try_new_tls`], panicking on failure.
    pub fn new_tls(addr: &str, server_name: &str, config: Arc<ClientConfig>) -> Conn {
        Self::try_new_tls(addr, server_name, config).expect("TLS handshake")
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, data: &[u8]) {
        let w = self.reader.get_mut();
        w.write_all(data).expect("write");
        w.flush().expect("flush");
    }

    /// Reads to the end: `Ok` with what came if the peer closed cleanly (for TLS: with
    /// `close_notify`), `Err` if the connection broke.
    pub fn read_to_end(&mut self) -> std::io::Result<Vec<u8>> {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).map(|_| rest)
    }

    /// Formats a request with Content-Length.
    pub fn format(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
        let mut r = format!("{method} {path} HTTP/1.1\r\nHost: mock\r\n");
        for (n, v) in headers {
            r.push_str(&format!("{n}: {v}\r\n"));
        }
        if method != "GET" || !body.is_empty() {
            r.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        r.push_str("\r\n");
        r.push_str(body);
        r.into_bytes()
    }

    /// Sends one request and reads its response.
    pub fn req(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        let r = Self::format(method, path, headers, body);
        self.send_raw(&r);
        self.read_response().expect("a response")
    }

    /// Reads one response; `None` if the connection closed before a status line.
    pub fn read_response(&mut self) -> Option<Resp> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h).ok()?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (n, v) = h.split_once(':')?;
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
            chunks: Vec::new(),
            complete: true,
        };
        if status == 100 {
            return Some(resp);
        }
        if resp.header("transfer-encoding") == Some("chunked") {
            resp.complete = false;
            loop {
                let mut size = String::new();
                if self.reader.read_line(&mut size).unwrap_or(0) == 0 {
                    break;
                }
                let n = usize::from_str_radix(size.trim(), 16).ok()?;
                if n == 0 {
                    let mut end = String::new();
                    self.reader.read_line(&mut end).ok()?;
                    resp.complete = true;
                    break;
                }
                let mut data = vec![0; n + 2];
                if self.reader.read_exact(&mut data).is_err() {
                    break;
                }
                data.truncate(n);
                resp.body.extend_from_slice(&data);
                resp.chunks.push(data);
            }
        } else {
            let n: usize = resp.header("content-length")?.parse().ok()?;
            let mut data = vec![0; n];
            let mut got = 0;
            while got < n {
                match self.reader.read(&mut data[got..]) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => got += k,
                }
            }
            data.truncate(got);
            resp.complete = got == n;
            resp.body = data;
        }
        Some(resp)
    }

    /// Whether the peer closed the connection (EOF) with nothing more to read.
    pub fn at_eof(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0) | Err(_))
    }
}
