//! Test helpers: start the built `loadtest mock` on a free port, and a tiny blocking std-only HTTP/1.1
//! client that keeps the raw chunk boundaries of streamed responses.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running mock; killed on drop.
pub struct Mock {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Mock {
    /// Starts `loadtest mock --listen 127.0.0.1:0 ARGS...` and waits for its `listening on` line.
    pub fn start(args: &[&str]) -> Mock {
        let mut child = Command::new(env!("CARGO_BIN_EXE_loadtest"))
            .args(["mock", "--listen", "127.0.0.1:0"])
            .args(args)
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
        Mock { child, addr }
    }

    /// A new connection to the mock.
    pub fn connect(&self) -> Conn {
        Conn::new(&self.addr)
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

/// One keep-alive connection.
pub struct Conn {
    /// Reader over the socket (the writer is `stream`).
    reader: BufReader<TcpStream>,
    /// The socket for writing.
    pub stream: TcpStream,
}

impl Conn {
    /// Connects to `addr`.
    pub fn new(addr: &str) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            stream,
        }
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, data: &[u8]) {
        self.stream.write_all(data).expect("write");
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
