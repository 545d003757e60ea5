//! Google service-account OAuth for Vertex AI, kept off the hot path.
//!
//! A `TokenSource` owns one refresher thread. The thread signs a JWT with the service account's
//! RSA key (RS256), exchanges it at the key's `token_uri` for an access token (the RFC 7523 JWT
//! bearer grant), and publishes the token through an `ArcSwapOption`: request paths read it with
//! one atomic load and never wait for the refresher, which may be stuck in DNS, TLS or a slow
//! token endpoint for seconds. The exchange uses a small blocking HTTP/1.1 client (rustls for
//! `https://`, plain TCP for `http://`, which only tests use) because one request an hour does
//! not justify an async runtime on a thread of its own.
//!
//! Wiring: at start-up `TokenSource::start(ServiceAccountKey::from_file(path)?)` (optionally
//! `wait_ready` for the first token), then per request `current()` gives the whole
//! `Authorization` header value (`Bearer ya29…`); `None` means no valid token yet or any more,
//! and `last_error()` says why.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, ServerName};

/// The OAuth scope Vertex AI needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Google's token endpoint, used when a key file names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Lifetime asked for in the JWT (Google's maximum).
const JWT_LIFETIME_SECS: u64 = 3600;

/// Refresh never comes sooner than this after a success, whatever `expires_in` said, so a
/// token endpoint answering `expires_in: 0` cannot make the refresher spin.
const MIN_REFRESH: Duration = Duration::from_millis(100);

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 1024 * 1024;

/// Why a key could not be used or a token could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError(pub String);

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AuthError {}

fn err(msg: impl Into<String>) -> AuthError {
    AuthError(msg.into())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyFormat {
    Pkcs8,
    Pkcs1,
}

/// A Google service-account key (the JSON file the Cloud console hands out). The private key
/// is checked when the file is read, so a `TokenSource` never starts with an unusable key.
#[derive(Clone)]
pub struct ServiceAccountKey {
    /// The account, the JWT's issuer.
    pub client_email: String,
    /// The key's id, sent as the JWT header's `kid`.
    pub private_key_id: Option<String>,
    /// Where tokens are exchanged (the JWT's audience).
    pub token_uri: String,
    /// The project the account belongs to (handy as the default Vertex project).
    pub project_id: Option<String>,
    key_der: Vec<u8>,
    key_format: KeyFormat,
}

impl fmt::Debug for ServiceAccountKey {
    // The private key stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    /// Parses a service-account key file's JSON text.
    pub fn from_json(text: &[u8]) -> Result<ServiceAccountKey, AuthError> {
        let v: serde_json::Value = serde_json::from_slice(text)
            .map_err(|e| err(format!("service account key is not JSON: {e}")))?;
        let field = |name: &str| v.get(name).and_then(serde_json::Value::as_str);
        match field("type") {
            Some("service_account") => {}
            Some(other) => {
                return Err(err(format!(
                    "service account key: `type` is \"{other}\", expected \"service_account\""
                )))
            }
            None => return Err(err("service account key: missing `type`")),
        }
        let client_email = field("client_email")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| err("service account key: missing `client_email`"))?;
        let pem = field("private_key")
            .ok_or_else(|| err("service account key: missing `private_key`"))?;
        let (key_der, key_format) = match PrivateKeyDer::from_pem_slice(pem.as_bytes()) {
            Ok(PrivateKeyDer::Pkcs8(k)) => (k.secret_pkcs8_der().to_vec(), KeyFormat::Pkcs8),
            Ok(PrivateKeyDer::Pkcs1(k)) => (k.secret_pkcs1_der().to_vec(), KeyFormat::Pkcs1),
            Ok(_) => return Err(err("service account key: `private_key` is not an RSA key")),
            Err(e) => {
                return Err(err(format!(
                    "service account key: `private_key` is not a PEM private key: {e:?}"
                )))
            }
        };
        let key = ServiceAccountKey {
            client_email: client_email.to_string(),
            private_key_id: field("private_key_id")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            token_uri: field("token_uri")
                .filter(|s| !s.is_empty())
                .unwrap_or(DEFAULT_TOKEN_URI)
                .to_string(),
            project_id: field("project_id").map(str::to_string),
            key_der,
            key_format,
        };
        key.key_pair()?;
        parse_url(&key.token_uri)?;
        Ok(key)
    }

    /// Reads and parses a service-account key file.
    pub fn from_file(path: &Path) -> Result<ServiceAccountKey, AuthError> {
        let text =
            std::fs::read(path).map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        ServiceAccountKey::from_json(&text).map_err(|e| err(format!("{}: {e}", path.display())))
    }

    /// The same key with another token endpoint (a proxy, or a local one in tests).
    pub fn with_token_uri(mut self, uri: &str) -> Result<ServiceAccountKey, AuthError> {
        parse_url(uri)?;
        self.token_uri = uri.to_string();
        Ok(self)
    }

    fn key_pair(&self) -> Result<RsaKeyPair, AuthError> {
        let pair = match self.key_format {
            KeyFormat::Pkcs8 => RsaKeyPair::from_pkcs8(&self.key_der),
            KeyFormat::Pkcs1 => RsaKeyPair::from_der(&self.key_der),
        };
        pair.map_err(|e| err(format!("service account key: unusable RSA key: {e}")))
    }
}

/// Signs the JWT assertions a service account exchanges for access tokens.
pub struct JwtSigner {
    pair: RsaKeyPair,
    rng: SystemRandom,
    header: String,
    issuer: String,
    audience: String,
}

impl JwtSigner {
    /// A signer for `key`'s account and token endpoint.
    pub fn new(key: &ServiceAccountKey) -> Result<JwtSigner, AuthError> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &key.private_key_id {
            header["kid"] = serde_json::Value::String(kid.clone());
        }
        Ok(JwtSigner {
            pair: key.key_pair()?,
            rng: SystemRandom::new(),
            header: base64url(header.to_string().as_bytes()),
            issuer: key.client_email.clone(),
            audience: key.token_uri.clone(),
        })
    }

    /// A signed assertion issued at `iat` (Unix seconds), valid for an hour.
    pub fn assertion(&self, iat: u64) -> Result<String, AuthError> {
        let claims = serde_json::json!({
            "iss": self.issuer,
            "scope": SCOPE,
            "aud": self.audience,
            "iat": iat,
            "exp": iat + JWT_LIFETIME_SECS,
        });
        let mut jwt = format!(
            "{}.{}",
            self.header,
            base64url(claims.to_string().as_bytes())
        );
        let mut sig = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, jwt.as_bytes(), &mut sig)
            .map_err(|_| err("RSA signing failed"))?;
        jwt.push('.');
        jwt.push_str(&base64url(&sig));
        Ok(jwt)
    }

    /// The account's public key (DER `RSAPublicKey`), for verifying assertions.
    pub fn public_key_der(&self) -> &[u8] {
        self.pair.public().as_ref()
    }
}

/// Base64url without padding (RFC 7515 §2), as JWTs want it.
fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

/// `application/x-www-form-urlencoded` escaping of one value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Timing of the refresher. `Default` is what production uses.
#[derive(Debug, Clone)]
pub struct RefreshPolicy {
    /// How long before expiry a token is replaced (tokens shorter than twice this are replaced
    /// at half their life).
    pub margin: Duration,
    /// First wait after a failed exchange; doubles on each further failure.
    pub initial_backoff: Duration,
    /// Longest wait between failed exchanges.
    pub max_backoff: Duration,
    /// Bound on connecting to the token endpoint.
    pub connect_timeout: Duration,
    /// Bound on each read or write, and on the whole exchange.
    pub io_timeout: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> RefreshPolicy {
        RefreshPolicy {
            margin: Duration::from_secs(300),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(20),
        }
    }
}

impl RefreshPolicy {
    fn refresh_after(&self, lifetime: Duration) -> Duration {
        let wait = if lifetime > self.margin * 2 {
            lifetime - self.margin
        } else {
            lifetime / 2
        };
        wait.max(MIN_REFRESH)
    }
}

struct Token {
    /// `Bearer …`, ready for the `Authorization` header.
    header: Arc<str>,
    expires_at: Instant,
    lifetime: Duration,
}

/// A service account's current access token, kept fresh by a background thread.
pub struct TokenSource {
    token: ArcSwapOption<Token>,
    last_error: Mutex<Option<String>>,
    stopped: AtomicBool,
    /// Dropping the sender (on `stop()` or when the source goes away) wakes the refresher
    /// from its wait and ends it.
    wake: Mutex<Option<mpsc::Sender<()>>>,
}

impl TokenSource {
    /// Starts the refresher for `key` with the default policy: it fetches a token at once, then
    /// refreshes 5 minutes before expiry, retrying failures with capped exponential backoff.
    /// It stops when the last `Arc` is dropped or on `stop()`.
    pub fn start(key: ServiceAccountKey) -> Arc<TokenSource> {
        TokenSource::start_with(key, RefreshPolicy::default())
    }

    /// `start` with explicit timing.
    pub fn start_with(key: ServiceAccountKey, policy: RefreshPolicy) -> Arc<TokenSource> {
        let (tx, rx) = mpsc::channel();
        let source = Arc::new(TokenSource {
            token: ArcSwapOption::empty(),
            last_error: Mutex::new(None),
            stopped: AtomicBool::new(false),
            wake: Mutex::new(Some(tx)),
        });
        let weak = Arc::downgrade(&source);
        let spawned = std::thread::Builder::new()
            .name("vertex-auth".into())
            .spawn(move || refresher(key, policy, weak, rx));
        if let Err(e) = spawned {
            source.set_error(format!("cannot start the token refresher thread: {e}"));
        }
        source
    }

    /// The `Authorization` header value (`Bearer TOKEN`) while a valid token is known; never
    /// blocks (one atomic load and a reference-count increment).
    pub fn current(&self) -> Option<Arc<str>> {
        let guard = self.token.load();
        let token = guard.as_ref()?;
        if Instant::now() >= token.expires_at {
            return None;
        }
        Some(Arc::clone(&token.header))
    }

    /// Why the last exchange failed, while no later one has succeeded.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// Waits (polling; start-up only) until a token is known or `timeout` passes.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.current().is_some() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Ends the refresher (after the exchange in flight, if any). The last token stays
    /// available until it expires.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        if let Ok(mut wake) = self.wake.lock() {
            wake.take();
        }
    }

    fn set_error(&self, msg: String) {
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(msg);
        }
    }

    fn publish(&self, token: Token) {
        self.token.store(Some(Arc::new(token)));
        if let Ok(mut e) = self.last_error.lock() {
            *e = None;
        }
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("ready", &self.current().is_some())
            .field("last_error", &self.last_error())
            .finish()
    }
}

fn refresher(
    key: ServiceAccountKey,
    policy: RefreshPolicy,
    source: Weak<TokenSource>,
    wake: mpsc::Receiver<()>,
) {
    let setup = JwtSigner::new(&key).and_then(|signer| {
        let url = parse_url(&key.token_uri)?;
        let tls = if url.https { Some(tls_config()?) } else { None };
        Ok((signer, url, tls))
    });
    let (signer, url, tls) = match setup {
        Ok(s) => s,
        Err(e) => {
            if let Some(src) = source.upgrade() {
                src.set_error(e.0);
            }
            return;
        }
    };
    let mut backoff = policy.initial_backoff;
    loop {
        // The strong reference lives only for one exchange, so dropping the last outside
        // `Arc` ends the thread at its next wait.
        let wait = {
            let Some(src) = source.upgrade() else { return };
            if src.stopped.load(Ordering::Acquire) {
                return;
            }
            match fetch_token(&signer, &url, tls.as_ref(), &policy) {
                Ok(token) => {
                    let wait = policy.refresh_after(token.lifetime);
                    src.publish(token);
                    backoff = policy.initial_backoff;
                    wait
                }
                Err(e) => {
                    src.set_error(format!("Vertex AI token exchange failed: {e}"));
                    let wait = backoff;
                    backoff = (backoff * 2).min(policy.max_backoff);
                    wait
                }
            }
        };
        match wake.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, AuthError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn fetch_token(
    signer: &JwtSigner,
    url: &Url,
    tls: Option<&Arc<rustls::ClientConfig>>,
    policy: &RefreshPolicy,
) -> Result<Token, AuthError> {
    let assertion = signer.assertion(unix_now())?;
    let body = format!(
        "grant_type={}&assertion={}",
        form_encode(GRANT_TYPE),
        form_encode(&assertion)
    );
    // Expiry counts from before the request: the token may have been minted any time after.
    let asked = Instant::now();
    let (status, answer) = post_form(url, &body, tls, policy)?;
    let (header, lifetime) = parse_token_answer(status, &answer)?;
    // Google's tokens live an hour; a provider claiming more must not overflow `Instant`.
    let lifetime = lifetime.min(Duration::from_secs(86_400));
    Ok(Token {
        header,
        expires_at: asked + lifetime,
        lifetime,
    })
}

/// Reads the token endpoint's answer: `{access_token, expires_in, token_type}` on success,
/// `{error, error_description}` otherwise.
fn parse_token_answer(status: u16, body: &[u8]) -> Result<(Arc<str>, Duration), AuthError> {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|v| v.get(name))
            .and_then(serde_json::Value::as_str)
    };
    if !(200..300).contains(&status) {
        let detail = match (field("error"), field("error_description")) {
            (Some(e), Some(d)) => format!("{e}: {d}"),
            (Some(e), None) => e.to_string(),
            _ => {
                let text = String::from_utf8_lossy(body);
                text.trim().chars().take(300).collect()
            }
        };
        return Err(err(format!("token endpoint answered {status}: {detail}")));
    }
    let token = field("access_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| err("token endpoint answer has no access_token"))?;
    if token.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(err(
            "token endpoint answered an access_token unfit for a header",
        ));
    }
    let expires_in = json
        .as_ref()
        .and_then(|v| v.get("expires_in"))
        .and_then(|e| {
            e.as_u64()
                .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(JWT_LIFETIME_SECS);
    Ok((
        Arc::from(format!("Bearer {token}")),
        Duration::from_secs(expires_in),
    ))
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Url {
    https: bool,
    host: String,
    port: u16,
    /// The `Host` header value.
    authority: String,
    path: String,
}

fn parse_url(s: &str) -> Result<Url, AuthError> {
    let bad = || err(format!("token_uri {s:?} is not an http(s) URL"));
    let (https, rest) = if let Some(r) = s.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = s.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(bad());
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    let default_port = if https { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']').ok_or_else(bad)?;
        let port = match &v6[end + 1..] {
            "" => default_port,
            p => p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .ok_or_else(bad)?,
        };
        (v6[..end].to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad())?),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Url {
        https,
        host,
        port,
        authority: authority.to_string(),
        path,
    })
}

fn post_form(
    url: &Url,
    body: &str,
    tls: Option<&Arc<rustls::ClientConfig>>,
    policy: &RefreshPolicy,
) -> Result<(u16, Vec<u8>), AuthError> {
    let tcp = connect(url, policy)?;
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: shardgate\r\nAccept: application/json\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{}",
        url.path,
        url.authority,
        body.len(),
        body
    );
    let deadline = Instant::now() + policy.io_timeout;
    if url.https {
        let config = tls.ok_or_else(|| err("no TLS configuration for an https token_uri"))?;
        let name = ServerName::try_from(url.host.clone())
            .map_err(|_| err(format!("{:?} is not a valid TLS server name", url.host)))?;
        let conn = rustls::ClientConnection::new(Arc::clone(config), name)
            .map_err(|e| err(format!("TLS: {e}")))?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        exchange(&mut stream, request.as_bytes(), deadline)
    } else {
        let mut stream = tcp;
        exchange(&mut stream, request.as_bytes(), deadline)
    }
}

fn connect(url: &Url, policy: &RefreshPolicy) -> Result<TcpStream, AuthError> {
    let addrs = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| err(format!("cannot resolve {}: {e}", url.host)))?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, policy.connect_timeout) {
            Ok(tcp) => {
                let setup = tcp
                    .set_read_timeout(Some(policy.io_timeout))
                    .and_then(|()| tcp.set_write_timeout(Some(policy.io_timeout)))
                    .and_then(|()| tcp.set_nodelay(true));
                setup.map_err(|e| err(format!("socket setup: {e}")))?;
                return Ok(tcp);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => err(format!("cannot connect to {}: {e}", url.authority)),
        None => err(format!("{} resolves to no address", url.host)),
    })
}

fn io_err(e: io::Error) -> AuthError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            err("token endpoint timed out".to_string())
        }
        _ => err(format!("token endpoint I/O: {e}")),
    }
}

fn exchange<S: Read + Write>(
    stream: &mut S,
    request: &[u8],
    deadline: Instant,
) -> Result<(u16, Vec<u8>), AuthError> {
    stream.write_all(request).map_err(io_err)?;
    stream.flush().map_err(io_err)?;
    read_response(stream, deadline)
}

/// Reads more bytes into `buf`; `Ok(false)` at the end of the stream. A TLS peer that closes
/// without `close_notify` counts as an end (the framing decides whether the body is whole).
fn fill<R: Read>(r: &mut R, buf: &mut Vec<u8>, deadline: Instant) -> Result<bool, AuthError> {
    if Instant::now() >= deadline {
        return Err(err("token endpoint timed out"));
    }
    let mut chunk = [0u8; 4096];
    loop {
        match r.read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(true);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(io_err(e)),
        }
    }
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// Reads one HTTP/1.1 response: status and body (de-chunked), skipping `1xx` interim heads.
fn read_response<R: Read>(r: &mut R, deadline: Instant) -> Result<(u16, Vec<u8>), AuthError> {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = memchr::memmem::find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > MAX_HEAD {
                return Err(err("token endpoint answer head too large"));
            }
            if !fill(r, &mut buf, deadline)? {
                return Err(err("token endpoint closed the connection before answering"));
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .strip_prefix("HTTP/1.")
            .and_then(|s| s.get(2..5))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                err(format!(
                    "bad status line from token endpoint: {status_line:?}"
                ))
            })?;
        buf.drain(..head_end);
        if (100..200).contains(&status) {
            continue;
        }
        let mut framing = Framing::UntilClose;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                framing = Framing::Chunked;
            } else if name.eq_ignore_ascii_case("content-length")
                && !matches!(framing, Framing::Chunked)
            {
                let n: usize = value
                    .parse()
                    .map_err(|_| err("bad Content-Length from token endpoint"))?;
                if n > MAX_BODY {
                    return Err(err("token endpoint answer too large"));
                }
                framing = Framing::Length(n);
            }
        }
        let body = match framing {
            Framing::Length(n) => {
                while buf.len() < n {
                    if !fill(r, &mut buf, deadline)? {
                        return Err(err("token endpoint answer cut short"));
                    }
                }
                buf.truncate(n);
                buf
            }
            Framing::Chunked => loop {
                if let Some(body) = dechunk(&buf)? {
                    break body;
                }
                if buf.len() > MAX_BODY + MAX_HEAD {
                    return Err(err("token endpoint answer too large"));
                }
                if !fill(r, &mut buf, deadline)? {
                    return Err(err("token endpoint answer cut short"));
                }
            },
            Framing::UntilClose => {
                while fill(r, &mut buf, deadline)? {
                    if buf.len() > MAX_BODY {
                        return Err(err("token endpoint answer too large"));
                    }
                }
                buf
            }
        };
        return Ok((status, body));
    }
}

/// Decodes a complete chunked body, `None` while more bytes are needed. Answers are small, so
/// decoding again from the start on each new read is fine.
fn dechunk(data: &[u8]) -> Result<Option<Vec<u8>>, AuthError> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some(eol) = memchr::memmem::find(&data[pos..], b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&data[pos..pos + eol])
            .map_err(|_| err("bad chunk size from token endpoint"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| err("bad chunk size from token endpoint"))?;
        if size > MAX_BODY {
            return Err(err("token endpoint answer too large"));
        }
        pos += eol + 2;
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let Some(eol) = memchr::memmem::find(&data[pos..], b"\r\n") else {
                    return Ok(None);
                };
                pos += eol + 2;
                if eol == 0 {
                    return Ok(Some(body));
                }
            }
        }
        if data.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&data[pos..pos + size]);
        if &data[pos + size..pos + size + 2] != b"\r\n" {
            return Err(err("bad chunk framing from token endpoint"));
        }
        pos += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
    use std::io::Cursor;
    use std::net::{SocketAddr, TcpListener};
    use std::sync::atomic::AtomicUsize;

    // A TEST-ONLY key generated for these tests (`openssl genpkey -algorithm RSA`); it belongs
    // to no Google project and grants nothing.
    const KEY_FILE: &str = include_str!("../../tests/fixtures/vertex/test-service-account.json");

    fn test_key() -> ServiceAccountKey {
        ServiceAccountKey::from_json(KEY_FILE.as_bytes()).expect("test key parses")
    }

    fn b64url_decode(s: &str) -> Vec<u8> {
        let val = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {c}"),
        };
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for &c in s.as_bytes() {
            acc = (acc << 6) | u32::from(val(c));
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }

    fn form_decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 2;
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    }

    fn verify(jwt: &str, public_key: &[u8]) -> bool {
        let Some((input, sig)) = jwt.rsplit_once('.') else {
            return false;
        };
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key)
            .verify(input.as_bytes(), &b64url_decode(sig))
            .is_ok()
    }

    #[test]
    fn base64url_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in cases {
            assert_eq!(base64url(plain.as_bytes()), enc);
            assert_eq!(b64url_decode(enc), plain.as_bytes());
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn parses_the_key_file() {
        let key = test_key();
        assert_eq!(
            key.client_email,
            "gateway-test@shardgate-test.iam.gserviceaccount.com"
        );
        assert_eq!(key.token_uri, "https://oauth2.googleapis.com/token");
        assert_eq!(key.project_id.as_deref(), Some("shardgate-test"));
        assert!(key.private_key_id.is_some());
        assert!(!format!("{key:?}").contains("PRIVATE"));
    }

    #[test]
    fn rejects_bad_key_files() {
        let mut v: serde_json::Value = serde_json::from_str(KEY_FILE).unwrap();
        let with = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut v = v.clone();
            edit(&mut v);
            ServiceAccountKey::from_json(v.to_string().as_bytes())
                .unwrap_err()
                .0
        };
        assert!(with(&|v| v["type"] = "authorized_user".into()).contains("type"));
        assert!(with(&|v| {
            v.as_object_mut().unwrap().remove("client_email");
        })
        .contains("client_email"));
        assert!(with(&|v| v["private_key"] = "not a pem".into()).contains("private_key"));
        assert!(with(&|v| v["token_uri"] = "ftp://x/token".into()).contains("token_uri"));
        assert!(ServiceAccountKey::from_json(b"{").is_err());
        // A missing token_uri falls back to Google's.
        v.as_object_mut().unwrap().remove("token_uri");
        let key = ServiceAccountKey::from_json(v.to_string().as_bytes()).unwrap();
        assert_eq!(key.token_uri, DEFAULT_TOKEN_URI);
    }

    #[test]
    fn jwt_is_well_formed_and_signed() {
        let key = test_key();
        let signer = JwtSigner::new(&key).unwrap();
        let jwt = signer.assertion(1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value = serde_json::from_slice(&b64url_decode(parts[0])).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": key.private_key_id})
        );
        let claims: serde_json::Value = serde_json::from_slice(&b64url_decode(parts[1])).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({
                "iss": key.client_email,
                "scope": SCOPE,
                "aud": key.token_uri,
                "iat": 1_700_000_000u64,
                "exp": 1_700_003_600u64,
            })
        );
        assert!(verify(&jwt, signer.public_key_der()));
        let tampered = jwt.replacen(parts[1], &base64url(b"{\"iss\":\"evil\"}"), 1);
        assert!(!verify(&tampered, signer.public_key_der()));
    }

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_encode(GRANT_TYPE),
            "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
        );
        assert_eq!(form_encode("a b&c=d.e_f-g"), "a+b%26c%3Dd.e_f-g");
        assert_eq!(form_decode(&form_encode("x:y/z é")), "x:y/z é");
    }

    #[test]
    fn urls() {
        let u = parse_url("https://oauth2.googleapis.com/token").unwrap();
        assert_eq!(
            (
                u.https,
                u.host.as_str(),
                u.port,
                u.authority.as_str(),
                u.path.as_str()
            ),
            (
                true,
                "oauth2.googleapis.com",
                443,
                "oauth2.googleapis.com",
                "/token"
            )
        );
        let u = parse_url("http://127.0.0.1:8080").unwrap();
        assert_eq!((u.port, u.path.as_str()), (8080, "/"));
        let u = parse_url("http://[::1]:9/t?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 9, "/t?x=1")
        );
        for bad in [
            "oauth2.googleapis.com/token",
            "https://",
            "http://h:port/",
            "http://u@h/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    /// A reader that hands out its data a few bytes at a time, as a network does.
    struct Trickle(Cursor<Vec<u8>>);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.0.read(&mut buf[..n])
        }
    }

    fn read_all(raw: &str) -> Result<(u16, Vec<u8>), AuthError> {
        read_response(&mut Trickle(Cursor::new(raw.as_bytes().to_vec())), far())
    }

    #[test]
    fn response_framings() {
        let (s, b) = read_all("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA").unwrap();
        assert_eq!((s, b.as_slice()), (200, &b"hello"[..]));
        let chunked = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                       4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: y\r\n\r\n";
        let (s, b) = read_all(chunked).unwrap();
        assert_eq!((s, b.as_slice()), (200, &b"Wikipedia"[..]));
        let (s, b) = read_all("HTTP/1.0 500 Oops\r\n\r\nbroken").unwrap();
        assert_eq!((s, b.as_slice()), (500, &b"broken"[..]));
        let (s, b) = read_all(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        )
        .unwrap();
        assert_eq!((s, b.as_slice()), (201, &b"ok"[..]));
        assert!(read_all("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
        assert!(read_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab").is_err());
        assert!(read_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
        assert!(read_all("garbage\r\n\r\n").is_err());
        assert!(read_all("HTTP/1.1 200 OK\r\n").is_err());
    }

    #[test]
    fn token_answers() {
        let (h, l) = parse_token_answer(
            200,
            br#"{"access_token":"ya29.abc","expires_in":3599,"token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!((&*h, l), ("Bearer ya29.abc", Duration::from_secs(3599)));
        let e = parse_token_answer(
            400,
            br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
        )
        .unwrap_err();
        assert!(e.0.contains("400") && e.0.contains("invalid_grant: Invalid JWT Signature."));
        assert!(parse_token_answer(502, b"<html>bad gateway</html>")
            .unwrap_err()
            .0
            .contains("bad gateway"));
        assert!(parse_token_answer(200, br#"{"expires_in":1}"#).is_err());
        assert!(parse_token_answer(200, b"{\"access_token\":\"a\\r\\nb\"}").is_err());
    }

    #[test]
    fn refresh_policy() {
        let p = RefreshPolicy::default();
        assert_eq!(
            p.refresh_after(Duration::from_secs(3599)),
            Duration::from_secs(3299)
        );
        assert_eq!(
            p.refresh_after(Duration::from_secs(300)),
            Duration::from_secs(150)
        );
        assert_eq!(p.refresh_after(Duration::ZERO), MIN_REFRESH);
    }

    fn http_json(status: u16, body: &str) -> String {
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn http_chunked(status: u16, body: &str) -> String {
        let (a, b) = body.split_at(body.len() / 2);
        format!(
            "HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        )
    }

    fn token_json(name: &str, expires_in: u64) -> String {
        format!(r#"{{"access_token":"{name}","expires_in":{expires_in},"token_type":"Bearer"}}"#)
    }

    struct Endpoint {
        addr: SocketAddr,
        served: Arc<AtomicUsize>,
        bad_requests: Arc<AtomicUsize>,
    }

    /// A local token endpoint: checks each request (path, form body, JWT signature and
    /// claims) and answers what `script(n)` says for the n-th request, after its delay.
    fn endpoint(script: impl Fn(usize) -> (Duration, String) + Send + 'static) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let public_key = JwtSigner::new(&test_key())
            .unwrap()
            .public_key_der()
            .to_vec();
        let served = Arc::new(AtomicUsize::new(0));
        let bad_requests = Arc::new(AtomicUsize::new(0));
        let (served2, bad2) = (served.clone(), bad_requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let n = served2.fetch_add(1, Ordering::SeqCst);
                let ok = check_request(&mut conn, &public_key, addr);
                if !ok {
                    bad2.fetch_add(1, Ordering::SeqCst);
                }
                let (delay, answer) = if ok {
                    script(n)
                } else {
                    (
                        Duration::ZERO,
                        http_json(400, r#"{"error":"invalid_grant"}"#),
                    )
                };
                std::thread::sleep(delay);
                let _ = conn.write_all(answer.as_bytes());
            }
        });
        Endpoint {
            addr,
            served,
            bad_requests,
        }
    }

    fn check_request(conn: &mut TcpStream, public_key: &[u8], addr: SocketAddr) -> bool {
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = memchr::memmem::find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 1024];
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let Some(len) = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
        else {
            return false;
        };
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 1024];
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        if !head.starts_with("post /token http/1.1\r\n")
            || !head.contains("content-type: application/x-www-form-urlencoded\r\n")
            || !head.contains(&format!("host: {addr}\r\n"))
        {
            return false;
        }
        let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned();
        let fields: Vec<(String, String)> = body
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (form_decode(k), form_decode(v)))
            .collect();
        let [(k1, grant), (k2, jwt)] = fields.as_slice() else {
            return false;
        };
        if k1 != "grant_type" || grant != GRANT_TYPE || k2 != "assertion" {
            return false;
        }
        let Some(claims) = jwt.split('.').nth(1) else {
            return false;
        };
        let claims: serde_json::Value = match serde_json::from_slice(&b64url_decode(claims)) {
            Ok(c) => c,
            Err(_) => return false,
        };
        verify(jwt, public_key)
            && claims["aud"] == format!("http://{addr}/token")
            && claims["scope"] == SCOPE
    }

    fn fast_policy() -> RefreshPolicy {
        RefreshPolicy {
            margin: Duration::from_secs(300),
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(2),
            io_timeout: Duration::from_secs(2),
        }
    }

    fn key_for(ep: &Endpoint) -> ServiceAccountKey {
        test_key()
            .with_token_uri(&format!("http://{}/token", ep.addr))
            .unwrap()
    }

    fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn fetches_retries_refreshes_and_never_blocks() {
        let ep = endpoint(|n| match n {
            0 => (Duration::ZERO, http_json(500, "backend error")),
            1 => (Duration::ZERO, http_json(200, &token_json("tok1", 2))),
            // The first refresh is slow: readers must keep getting tok1 meanwhile.
            2 => (
                Duration::from_millis(300),
                http_chunked(200, &token_json("tok2", 2)),
            ),
            n => (
                Duration::ZERO,
                http_chunked(200, &token_json(&format!("tok{n}"), 2)),
            ),
        });
        let src = TokenSource::start_with(key_for(&ep), fast_policy());
        assert!(
            src.wait_ready(Duration::from_secs(5)),
            "{:?}",
            src.last_error()
        );
        assert_eq!(src.current().as_deref(), Some("Bearer tok1"));
        assert!(ep.served.load(Ordering::SeqCst) >= 2, "the 500 was retried");
        assert_eq!(src.last_error(), None, "a success clears the error");

        // Refresh comes at half the 2 s life; the slow answer takes 300 ms more.
        let mut slowest = Duration::ZERO;
        let until = Instant::now() + Duration::from_secs(3);
        let mut refreshed = false;
        while Instant::now() < until {
            let t = Instant::now();
            let cur = src.current();
            slowest = slowest.max(t.elapsed());
            let cur = cur.expect("a valid token at all times");
            if &*cur == "Bearer tok2" {
                refreshed = true;
                break;
            }
            assert_eq!(&*cur, "Bearer tok1");
        }
        assert!(refreshed, "tok1 was refreshed");
        assert!(
            slowest < Duration::from_millis(100),
            "current() took {slowest:?}"
        );
        assert_eq!(ep.bad_requests.load(Ordering::SeqCst), 0);
        src.stop();
    }

    #[test]
    fn failures_are_reported_and_expired_tokens_withheld() {
        let ep = endpoint(|n| match n {
            0 => (Duration::ZERO, http_json(200, &token_json("short", 1))),
            _ => (
                Duration::ZERO,
                http_json(
                    503,
                    r#"{"error":"temporarily_unavailable","error_description":"try later"}"#,
                ),
            ),
        });
        let src = TokenSource::start_with(key_for(&ep), fast_policy());
        assert!(src.wait_ready(Duration::from_secs(5)));
        wait_for("expiry", Duration::from_secs(5), || src.current().is_none());
        let e = src.last_error().expect("the failure is kept");
        assert!(e.contains("503") && e.contains("try later"), "{e}");
        // Backoff is capped: retries keep coming.
        let before = ep.served.load(Ordering::SeqCst);
        wait_for("retries", Duration::from_secs(5), || {
            ep.served.load(Ordering::SeqCst) >= before + 2
        });
        assert_eq!(ep.bad_requests.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_hung_endpoint_times_out() {
        let ep = endpoint(|_| {
            (
                Duration::from_secs(3),
                http_json(200, &token_json("late", 60)),
            )
        });
        let mut policy = fast_policy();
        policy.io_timeout = Duration::from_millis(200);
        let src = TokenSource::start_with(key_for(&ep), policy);
        wait_for("a timeout error", Duration::from_secs(5), || {
            src.last_error().is_some_and(|e| e.contains("timed out"))
        });
        assert!(src.current().is_none());
    }

    #[test]
    fn stop_and_drop_end_the_refresher() {
        for use_stop in [true, false] {
            let ep = endpoint(|n| {
                (
                    Duration::ZERO,
                    http_json(200, &token_json(&format!("t{n}"), 1)),
                )
            });
            let src = TokenSource::start_with(key_for(&ep), fast_policy());
            assert!(src.wait_ready(Duration::from_secs(5)));
            // Refreshing every 500 ms: a few are seen while it runs.
            let seen = ep.served.load(Ordering::SeqCst);
            wait_for("a refresh", Duration::from_secs(5), || {
                ep.served.load(Ordering::SeqCst) > seen
            });
            if use_stop {
                src.stop();
                assert!(src.current().is_some(), "stop keeps the last token");
            } else {
                drop(src);
            }
            let at_stop = ep.served.load(Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(1300));
            // At most the exchange that was already under way.
            assert!(ep.served.load(Ordering::SeqCst) <= at_stop + 1);
        }
    }

    #[test]
    fn unreachable_endpoint_is_an_error() {
        // Bind then drop: nothing listens on the port any more.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let key = test_key()
            .with_token_uri(&format!("http://127.0.0.1:{port}/token"))
            .unwrap();
        let src = TokenSource::start_with(key, fast_policy());
        wait_for("a connect error", Duration::from_secs(5), || {
            src.last_error()
                .is_some_and(|e| e.contains("cannot connect"))
        });
    }

    #[test]
    fn https_config_builds() {
        assert!(tls_config().is_ok());
    }
}
