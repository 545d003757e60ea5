//! AWS Signature Version 4 for Bedrock runtime requests, as a pure function of the request, the
//! credentials and the time (passed in, so tests are reproducible).
//!
//! The classic Bedrock signing bug is the path: model ids contain `:` (and ARNs `/`), which the
//! request path percent-encodes once (`v1%3A0`), and SigV4 for every service but S3 URI-encodes
//! each path segment *again* in the canonical request (`v1%253A0`). [`sign`] therefore takes the
//! path exactly as it goes on the wire and encodes it once more; [`bedrock_path`] builds that wire
//! path. The query string is not double-encoded: it is decoded, then encoded canonically.
//!
//! Paths are not normalised (`.`/`..` segments, repeated slashes): the gateway only signs paths
//! it builds itself, which have none.

use ring::{digest, hmac};

/// What a request signature depends on.
#[derive(Debug, Clone, Copy)]
pub struct SigningInput<'a> {
    /// HTTP method, upper case (`POST`).
    pub method: &'a str,
    /// The `Host` header value (`bedrock-runtime.us-east-1.amazonaws.com`).
    pub host: &'a str,
    /// The request path exactly as sent, already percent-encoded (see [`bedrock_path`]).
    pub path: &'a str,
    /// The query string as sent, without `?` (empty for Bedrock).
    pub query: &'a str,
    /// Other headers that are sent and must be signed (`content-type`, ...), any case. `host`,
    /// `x-amz-date` and `x-amz-security-token` are added by [`sign`] and ignored here.
    pub headers: &'a [(&'a str, &'a str)],
    /// The request body.
    pub payload: &'a [u8],
    /// AWS region (`us-east-1`).
    pub region: &'a str,
    /// Signing name of the service: `bedrock` for the Bedrock runtime.
    pub service: &'a str,
    /// Access key id.
    pub access_key_id: &'a str,
    /// Secret access key.
    pub secret_access_key: &'a str,
    /// Session token of temporary credentials, signed as `x-amz-security-token`.
    pub session_token: Option<&'a str>,
    /// Signing time, Unix seconds.
    pub unix_time: u64,
}

/// The headers to add to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// The `authorization` header value.
    pub authorization: String,
    /// The `x-amz-date` header value (`20240701T120000Z`).
    pub x_amz_date: String,
    /// The `x-amz-security-token` header value, when the credentials have a session token.
    pub x_amz_security_token: Option<String>,
}

impl SignedHeaders {
    /// The headers as HTTP/1.1 lines (`name: value\r\n` each), ready to copy into a request head.
    pub fn header_lines(&self) -> String {
        let mut s = format!(
            "authorization: {}\r\nx-amz-date: {}\r\n",
            self.authorization, self.x_amz_date
        );
        if let Some(token) = &self.x_amz_security_token {
            s.push_str("x-amz-security-token: ");
            s.push_str(token);
            s.push_str("\r\n");
        }
        s
    }
}

/// Splits a configured Bedrock key, `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`, into its
/// parts (AWS secrets and session tokens are base64 and never contain `:`).
pub fn parse_key(key: &str) -> Option<(&str, &str, Option<&str>)> {
    let mut parts = key.split(':');
    let id = parts.next().filter(|s| !s.is_empty())?;
    let secret = parts.next().filter(|s| !s.is_empty())?;
    let token = match parts.next() {
        None => None,
        Some(t) if !t.is_empty() => Some(t),
        Some(_) => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((id, secret, token))
}

/// Signs a request: returns the headers that authenticate it.
pub fn sign(input: &SigningInput<'_>) -> SignedHeaders {
    let amz_date = amz_date(input.unix_time);
    let date = &amz_date[..8];
    let (canonical, signed_headers) = canonical_request(input, &amz_date);
    let scope = format!("{date}/{}/{}/aws4_request", input.region, input.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let mut key = hmac_sha256(
        format!("AWS4{}", input.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [input.region, input.service, "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    SignedHeaders {
        authorization: format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            input.access_key_id
        ),
        x_amz_date: amz_date,
        x_amz_security_token: input.session_token.map(str::to_owned),
    }
}

/// The canonical request and its signed-headers list.
fn canonical_request(input: &SigningInput<'_>, amz_date: &str) -> (String, String) {
    let mut headers: Vec<(String, String)> = Vec::with_capacity(input.headers.len() + 3);
    headers.push(("host".into(), input.host.trim().to_owned()));
    headers.push(("x-amz-date".into(), amz_date.to_owned()));
    if let Some(token) = input.session_token {
        headers.push(("x-amz-security-token".into(), token.to_owned()));
    }
    for (name, value) in input.headers {
        let name = name.to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "host" | "x-amz-date" | "x-amz-security-token" | "authorization"
        ) {
            continue;
        }
        headers.push((name, collapse_spaces(value)));
    }
    // Stable sort keeps repeated headers in request order, as their joined value must be.
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut canonical_headers = String::new();
    let mut signed = String::new();
    let mut i = 0;
    while i < headers.len() {
        let name = &headers[i].0;
        if !signed.is_empty() {
            signed.push(';');
        }
        signed.push_str(name);
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        let mut first = true;
        while i < headers.len() && headers[i].0 == *name {
            if !first {
                canonical_headers.push(',');
            }
            canonical_headers.push_str(&headers[i].1);
            first = false;
            i += 1;
        }
        canonical_headers.push('\n');
    }
    let path = if input.path.is_empty() {
        "/"
    } else {
        input.path
    };
    let canonical = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed}\n{}",
        input.method,
        uri_encode(path.as_bytes(), false),
        canonical_query(input.query),
        sha256_hex(input.payload)
    );
    (canonical, signed)
}

/// Sorted, canonically encoded query parameters.
fn canonical_query(query: &str) -> String {
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), true),
                uri_encode(&percent_decode(v), true),
            )
        })
        .collect();
    params.sort();
    let mut out = String::new();
    for (k, v) in params {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&k);
        out.push('=');
        out.push_str(&v);
    }
    out
}

/// Trims a header value and collapses runs of spaces, as the canonical form requires.
fn collapse_spaces(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for word in v.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// SigV4's URI encoding: every byte but `A-Z a-z 0-9 - _ . ~` becomes `%XX` (upper-case hex);
/// `/` too when `encode_slash`.
fn uri_encode(bytes: &[u8], encode_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (b == b'/' && !encode_slash)
        {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

/// Undoes `%XX` escapes (malformed ones are kept as they are).
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The Bedrock runtime request path for a model, percent-encoded as it goes on the wire:
/// `/model/{modelId}/converse` or `/model/{modelId}/converse-stream`. The model id (a plain id,
/// an inference profile id or an ARN) is one path segment, so its `:` and `/` are escaped.
pub fn bedrock_path(model_id: &str, stream: bool) -> String {
    format!(
        "/model/{}/{}",
        uri_encode(model_id.as_bytes(), true),
        if stream {
            "converse-stream"
        } else {
            "converse"
        }
    )
}

/// The Bedrock runtime `InvokeModel` path of a model (`/model/{modelId}/invoke`), encoded like
/// [`bedrock_path`].
pub fn bedrock_invoke_path(model_id: &str) -> String {
    format!("/model/{}/invoke", uri_encode(model_id.as_bytes(), true))
}

/// The Bedrock runtime host of a region (`bedrock-runtime.us-east-1.amazonaws.com`).
pub fn bedrock_host(region: &str) -> String {
    format!("bedrock-runtime.{region}.amazonaws.com")
}

/// Lower-case hex SHA-256 of `data` (also the `x-amz-content-sha256` value, should a caller
/// want to send it).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&key, data).as_ref().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// `YYYYMMDDTHHMMSSZ` in UTC for Unix seconds.
pub fn amz_date(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's SigV4 test suite: credentials, region, service and time shared by every case.
    const SUITE_TIME: u64 = 1_440_938_160; // 2015-08-30T12:36:00Z
    const SUITE_PREFIX: &str =
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ";

    fn suite(
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
        token: Option<&str>,
    ) -> SignedHeaders {
        sign(&SigningInput {
            method,
            host: "example.amazonaws.com",
            path,
            query,
            headers,
            payload,
            region: "us-east-1",
            service: "service",
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token: token,
            unix_time: SUITE_TIME,
        })
    }

    fn expect(got: SignedHeaders, signed: &str, signature: &str) {
        assert_eq!(
            got.authorization,
            format!("{SUITE_PREFIX}SignedHeaders={signed}, Signature={signature}")
        );
        assert_eq!(got.x_amz_date, "20150830T123600Z");
    }

    #[test]
    fn suite_get_vanilla() {
        expect(
            suite("GET", "/", "", &[], b"", None),
            "host;x-amz-date",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        );
    }

    #[test]
    fn suite_queries() {
        expect(
            suite("GET", "/", "Param2=value2&Param1=value1", &[], b"", None),
            "host;x-amz-date",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        );
        expect(
            suite("GET", "/", "Param1=value1", &[], b"", None),
            "host;x-amz-date",
            "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
        );
        let unreserved = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        expect(
            suite(
                "GET",
                "/",
                &format!("{unreserved}={unreserved}"),
                &[],
                b"",
                None,
            ),
            "host;x-amz-date",
            "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
        );
        expect(
            suite("GET", "/", "ሴ=bar", &[], b"", None),
            "host;x-amz-date",
            "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
        );
        // The same query sent percent-encoded signs the same (queries are not double-encoded).
        expect(
            suite("GET", "/", "%E1%88%B4=bar", &[], b"", None),
            "host;x-amz-date",
            "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
        );
        expect(
            suite("POST", "/", "Param1=value1", &[], b"", None),
            "host;x-amz-date",
            "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
        );
    }

    #[test]
    fn suite_paths() {
        expect(
            suite(
                "GET",
                "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                "",
                &[],
                b"",
                None,
            ),
            "host;x-amz-date",
            "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
        );
        expect(
            suite("GET", "/ሴ", "", &[], b"", None),
            "host;x-amz-date",
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
        );
    }

    #[test]
    fn suite_headers() {
        expect(
            suite(
                "GET",
                "/",
                "",
                &[
                    ("My-Header1", "value2"),
                    ("My-Header1", "value2"),
                    ("My-Header1", "value1"),
                ],
                b"",
                None,
            ),
            "host;my-header1;x-amz-date",
            "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
        );
        expect(
            suite(
                "GET",
                "/",
                "",
                &[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
                b"",
                None,
            ),
            "host;my-header1;my-header2;x-amz-date",
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        );
        expect(
            suite("POST", "/", "", &[("My-Header1", "value1")], b"", None),
            "host;my-header1;x-amz-date",
            "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
        );
        expect(
            suite("POST", "/", "", &[("My-Header1", "VALUE1")], b"", None),
            "host;my-header1;x-amz-date",
            "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
        );
    }

    #[test]
    fn suite_post() {
        expect(
            suite("POST", "/", "", &[], b"", None),
            "host;x-amz-date",
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        );
        expect(
            suite(
                "POST",
                "/",
                "",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                b"Param1=value1",
                None,
            ),
            "content-type;host;x-amz-date",
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        );
        expect(
            suite(
                "POST",
                "/",
                "",
                &[(
                    "Content-Type",
                    "application/x-www-form-urlencoded; charset=utf8",
                )],
                b"Param1=value1",
                None,
            ),
            "content-type;host;x-amz-date",
            "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
        );
    }

    #[test]
    fn suite_session_token_is_signed() {
        let token = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
        let got = suite("POST", "/", "", &[], b"", Some(token));
        assert_eq!(got.x_amz_security_token.as_deref(), Some(token));
        expect(
            got,
            "host;x-amz-date;x-amz-security-token",
            "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
        );
    }

    /// Reference values computed with botocore 1.44.5 (the AWS SDK for Python) signing a real
    /// `bedrock-runtime` Converse call at 2024-07-01T12:00:00Z with the suite's credentials.
    fn bedrock(model: &str, token: Option<&str>) -> (String, SignedHeaders) {
        let path = bedrock_path(model, false);
        let signed = sign(&SigningInput {
            method: "POST",
            host: &bedrock_host("us-east-1"),
            path: &path,
            query: "",
            headers: &[("Content-Type", "application/json")],
            payload: br#"{"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}"#,
            region: "us-east-1",
            service: "bedrock",
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token: token,
            unix_time: 1_719_835_200,
        });
        (path, signed)
    }

    #[test]
    fn bedrock_model_id_with_colon_is_double_encoded() {
        let (path, signed) = bedrock("anthropic.claude-3-5-sonnet-20240620-v1:0", None);
        assert_eq!(
            path,
            "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
        );
        assert_eq!(signed.x_amz_date, "20240701T120000Z");
        assert_eq!(signed.x_amz_security_token, None);
        assert_eq!(
            signed.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240701/us-east-1/bedrock/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=9bf8c9e52d6ce3e5cf446aa2f45eaafd01947dd347dd60e6cd32be166741989c"
        );
    }

    #[test]
    fn bedrock_arn_with_session_token() {
        let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
        let (path, signed) = bedrock(arn, Some("SESSIONTOKEN"));
        assert_eq!(
            path,
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc123/converse"
        );
        assert_eq!(signed.x_amz_security_token.as_deref(), Some("SESSIONTOKEN"));
        assert_eq!(
            signed.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240701/us-east-1/bedrock/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, \
             Signature=9190be1b9f5c10da290bef162b08ad1360f0f3ad726d6c7e9a01d68bbd735ced"
        );
    }

    #[test]
    fn canonical_request_shows_the_double_encoding() {
        let path = bedrock_path("anthropic.claude-3-5-sonnet-20240620-v1:0", true);
        assert_eq!(
            path,
            "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream"
        );
        let input = SigningInput {
            method: "POST",
            host: "bedrock-runtime.us-east-1.amazonaws.com",
            path: &path,
            query: "",
            headers: &[("content-type", "application/json")],
            payload: b"{}",
            region: "us-east-1",
            service: "bedrock",
            access_key_id: "AKID",
            secret_access_key: "SECRET",
            session_token: None,
            unix_time: 0,
        };
        let (canonical, signed) = canonical_request(&input, "19700101T000000Z");
        assert_eq!(signed, "content-type;host;x-amz-date");
        assert_eq!(
            canonical,
            "POST\n/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse-stream\n\n\
             content-type:application/json\nhost:bedrock-runtime.us-east-1.amazonaws.com\n\
             x-amz-date:19700101T000000Z\n\ncontent-type;host;x-amz-date\n\
             44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn header_lines_and_keys() {
        let (_, signed) = bedrock("m", Some("TOK"));
        let lines = signed.header_lines();
        assert!(lines.starts_with("authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
        assert!(
            lines.ends_with("\r\nx-amz-date: 20240701T120000Z\r\nx-amz-security-token: TOK\r\n")
        );
        assert_eq!(parse_key("AKID:SECRET"), Some(("AKID", "SECRET", None)));
        assert_eq!(
            parse_key("AKID:SECRET:TOK"),
            Some(("AKID", "SECRET", Some("TOK")))
        );
        assert_eq!(parse_key("AKID"), None);
        assert_eq!(parse_key("AKID::"), None);
        assert_eq!(parse_key("AKID:SECRET:"), None);
        assert_eq!(parse_key("A:B:C:D"), None);
    }

    #[test]
    fn dates() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(SUITE_TIME), "20150830T123600Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
        assert_eq!(amz_date(4_102_444_799), "20991231T235959Z");
    }

    #[test]
    fn percent_decode_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%2Fb"), b"a/b");
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
    }
}
