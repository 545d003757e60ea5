//! Stages 6–8 for OpenAI-format providers: pick the key, write the upstream request (the caller's
//! body as bytes with only `model` spliced), run the exchange, relay the answer, record it.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::relay;
use super::respond::{self, Meta};
use super::RequestCtx;
use crate::error::{ApiFormat, ErrorKind, GatewayError};
use crate::http::write;
use crate::json_scan::{self, FieldError};
use crate::metrics::RequestRecord;
use crate::providers::Endpoint;
use crate::server::conn::ClientConn;
use crate::server::shard::Shard;
use crate::upstream::exchange;

/// Longest model name accepted.
const MAX_MODEL_NAME: usize = 256;

/// Proxies one OpenAI-format request; returns whether the caller's connection stays usable.
pub async fn proxy(
    shard: &Shard,
    conn: &mut ClientConn,
    body: Bytes,
    endpoint: Endpoint,
    ctx: &mut RequestCtx,
) -> bool {
    let gateway = shard.gateway();
    let fields = match json_scan::scan_request(&body) {
        Ok(f) => f,
        Err(e) => return super::finish_error(shard, conn, ctx, &field_error(e)).await,
    };
    let mut unescaped = String::new();
    let requested = match json_scan::model_str(&body, &fields, &mut unescaped) {
        Ok(m) => m,
        Err(e) => return super::finish_error(shard, conn, ctx, &field_error(e)).await,
    };
    // The name ends up in response headers and upstream URLs: refuse anything that could split a
    // header or smuggle a path, and bound its length (it also becomes a metric label).
    if requested.len() > MAX_MODEL_NAME || requested.bytes().any(|b| b < 0x21 || b == 0x7f) {
        let err = GatewayError::new(
            ErrorKind::InvalidField,
            format!("\"model\" must be 1 to {MAX_MODEL_NAME} visible characters without spaces"),
        );
        return super::finish_error(shard, conn, ctx, &err).await;
    }
    let Some(model_span) = fields.model.clone() else {
        let err = GatewayError::new(ErrorKind::MissingModel, "the request body has no \"model\"");
        return super::finish_error(shard, conn, ctx, &err).await;
    };
    let resolved = gateway
        .models
        .resolve(requested, &mut shard.rng.borrow_mut());
    let target = match resolved {
        Ok(t) => t,
        Err(e) => return super::finish_error(shard, conn, ctx, &e).await,
    };
    let Some(provider) = gateway.providers.get(target.provider) else {
        let err = GatewayError::new(ErrorKind::Internal, "resolved provider missing");
        return super::finish_error(shard, conn, ctx, &err).await;
    };
    let key = {
        let mut rng = shard.rng.borrow_mut();
        provider.pick_key(target.model, &mut rng)
    };
    let Some(key) = key else {
        let err = GatewayError::new(
            ErrorKind::NoUsableKey,
            format!(
                "no key of provider '{}' may serve model '{}'",
                provider.name, target.model
            ),
        );
        return super::finish_error(shard, conn, ctx, &err).await;
    };

    // The upstream request: head, then the body with the model value replaced.
    let wbuf = &mut conn.wbuf;
    wbuf.clear();
    wbuf.extend_from_slice(b"POST ");
    provider.write_target(endpoint, target.model, wbuf);
    wbuf.extend_from_slice(b" HTTP/1.1\r\n");
    wbuf.extend_from_slice(&provider.fixed_headers);
    wbuf.extend_from_slice(&key.auth_line);
    // The body was validated as JSON, whatever label the caller put on it.
    write::header(wbuf, b"content-type", b"application/json");
    // Headers the caller named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1).
    let connection = conn.head.header(b"connection");
    for (name, value) in conn.head.headers() {
        let listed = connection.is_some_and(|c| crate::http::has_token(c, name));
        if !listed && !is_hop_or_credential(name) {
            write::header(wbuf, name, value);
        }
    }
    write::header(wbuf, b"x-request-id", ctx.id.as_bytes());
    let same_model = requested == target.model && !fields.model_escaped;
    if same_model {
        write::header_u64(wbuf, b"content-length", body.len() as u64);
        wbuf.extend_from_slice(b"\r\n");
        wbuf.extend_from_slice(&body);
    } else if let Some(literal_len) = plain_literal_len(target.model) {
        let len = body.len() - model_span.len() + literal_len;
        write::header_u64(wbuf, b"content-length", len as u64);
        wbuf.extend_from_slice(b"\r\n");
        json_scan::splice_string(&body, model_span, target.model, wbuf);
    } else {
        // A model name that needs JSON escaping: splice first to learn the length.
        let mut spliced = std::mem::take(&mut conn.scratch);
        spliced.clear();
        json_scan::splice_string(&body, model_span, target.model, &mut spliced);
        let wbuf = &mut conn.wbuf;
        write::header_u64(wbuf, b"content-length", spliced.len() as u64);
        wbuf.extend_from_slice(b"\r\n");
        wbuf.extend_from_slice(&spliced);
        spliced.clear();
        conn.scratch = spliced;
    }

    let mut waited = Duration::ZERO;
    let deadline = Instant::now() + provider.timeout;
    let request = std::mem::take(&mut conn.wbuf);
    let (started, request) = exchange::start(
        shard,
        &gateway,
        target.provider,
        request,
        deadline,
        &mut waited,
    )
    .await;
    conn.wbuf = request;
    conn.wbuf.clear();
    // Draining may have begun while the provider was thinking: announce the close.
    ctx.keep_alive &= !shard.draining();
    let meta = Meta {
        request_id: ctx.id.as_bytes(),
        provider: Some(&provider.name),
        model: Some(target.model),
        attempts: 1,
        cache: "off",
    };
    let (status, keep) = match started {
        Ok(mut upstream) => {
            let outcome = relay::relay(
                conn,
                &mut upstream,
                provider,
                &meta,
                ctx.keep_alive,
                &mut waited,
            )
            .await;
            if outcome.upstream_reusable {
                shard.pool.checkin(
                    gateway.generation,
                    target.provider,
                    upstream,
                    provider.pool_max_idle,
                );
            }
            (outcome.status, outcome.client_keep_alive)
        }
        Err(err) => {
            tracing::warn!(
                request_id = %String::from_utf8_lossy(ctx.id.as_bytes()),
                provider = %provider.name,
                "upstream failed: {err}"
            );
            let ok = respond::error_with_meta(conn, &err, ApiFormat::OpenAi, ctx.keep_alive, &meta)
                .await;
            (err.status(), ok && ctx.keep_alive)
        }
    };
    shard.metrics.borrow_mut().record(&RequestRecord {
        route: ctx.route,
        provider: Some(&provider.name),
        model: Some(target.model),
        status,
        total: ctx.received.elapsed(),
        upstream: waited,
        proxied: true,
    });
    keep
}

fn field_error(e: FieldError) -> GatewayError {
    match e {
        FieldError::Json(e) => GatewayError::new(ErrorKind::InvalidJson, e.to_string()),
        FieldError::MissingModel => GatewayError::new(ErrorKind::MissingModel, e.to_string()),
        other => GatewayError::new(ErrorKind::InvalidField, other.to_string()),
    }
}

/// The length of `s` as a JSON string literal when it needs no escaping (the usual model name).
fn plain_literal_len(s: &str) -> Option<usize> {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        .then_some(s.len() + 2)
}

/// Request headers never forwarded: hop-by-hop headers, framing the gateway rewrites, the
/// caller's credentials (the provider gets the gateway's key), and the gateway's own controls.
fn is_hop_or_credential(name: &[u8]) -> bool {
    let eq = |s: &[u8]| name.eq_ignore_ascii_case(s);
    let listed = match name.len() {
        2 => eq(b"te"),
        4 => eq(b"host"),
        6 => eq(b"cookie") || eq(b"expect"),
        7 => eq(b"api-key") || eq(b"trailer") || eq(b"upgrade"),
        9 => eq(b"x-api-key"),
        10 => eq(b"connection") || eq(b"keep-alive"),
        12 => eq(b"x-request-id") || eq(b"content-type"),
        13 => eq(b"authorization"),
        14 => eq(b"content-length") || eq(b"x-goog-api-key") || eq(b"openai-project"),
        15 => eq(b"accept-encoding"),
        16 => eq(b"proxy-connection"),
        17 => eq(b"transfer-encoding"),
        19 => eq(b"proxy-authorization") || eq(b"openai-organization"),
        _ => false,
    };
    listed || (name.len() > 12 && name[..12].eq_ignore_ascii_case(b"x-shardgate-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_hop_headers_are_dropped() {
        for h in [
            "Authorization",
            "x-api-key",
            "X-Goog-Api-Key",
            "api-key",
            "Connection",
            "Content-Length",
            "Transfer-Encoding",
            "Host",
            "x-shardgate-cache-mode",
            "Accept-Encoding",
            "OpenAI-Organization",
            "openai-project",
            "Content-Type",
        ] {
            assert!(is_hop_or_credential(h.as_bytes()), "{h} should be dropped");
        }
        for h in ["user-agent", "x-stainless-lang", "openai-beta", "accept"] {
            assert!(!is_hop_or_credential(h.as_bytes()), "{h} should be kept");
        }
    }

    #[test]
    fn literal_lengths() {
        assert_eq!(plain_literal_len("gpt-4o-mini"), Some(13));
        assert_eq!(plain_literal_len("a\"b"), None);
        assert_eq!(plain_literal_len("modèle"), None);
    }
}
