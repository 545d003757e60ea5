//! `/admin/...`: runtime management behind `server.admin_token`. This build has reload.

use bytes::BytesMut;

use crate::error::{ErrorKind, GatewayError};
use crate::json_scan::write_json_string;
use crate::server::conn::ClientConn;
use crate::server::control::Control;
use crate::server::shard::Shard;

/// Checks the caller's `Authorization: Bearer TOKEN` against `server.admin_token`.
pub fn authorize(shard: &Shard, conn: &ClientConn) -> Result<(), GatewayError> {
    let gateway = shard.gateway();
    let Some(token) = gateway.config.server.admin_token.as_deref() else {
        return Err(GatewayError::new(
            ErrorKind::Forbidden,
            "the admin API is disabled: set server.admin_token to enable it",
        ));
    };
    let given = conn
        .head
        .header(b"authorization")
        .and_then(|v| {
            v.strip_prefix(b"Bearer ")
                .or_else(|| v.strip_prefix(b"bearer "))
        })
        .unwrap_or_default();
    if constant_time_eq(given, token.as_bytes()) {
        Ok(())
    } else {
        Err(GatewayError::new(
            ErrorKind::Unauthorized,
            "missing or wrong admin token (Authorization: Bearer <server.admin_token>)",
        ))
    }
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `POST /admin/reload`: asks the main thread to reload the configuration file and waits for the
/// verdict. Returns the JSON body to send with 200, or the error.
pub async fn reload(shard: &Shard) -> Result<BytesMut, GatewayError> {
    let Some(control) = &shard.control else {
        return Err(GatewayError::new(
            ErrorKind::Forbidden,
            "reload is not available in this embedding",
        ));
    };
    let (reply, answer) = futures_channel::oneshot::channel();
    control
        .send(Control::Reload(reply))
        .map_err(|_| GatewayError::new(ErrorKind::ShuttingDown, "the gateway is stopping"))?;
    let kept = answer
        .await
        .map_err(|_| GatewayError::new(ErrorKind::ShuttingDown, "the gateway is stopping"))?
        .map_err(|e| GatewayError::new(ErrorKind::InvalidConfig, format!("reload refused: {e}")))?;
    let mut body = BytesMut::new();
    body.extend_from_slice(b"{\"status\":\"reloaded\",\"kept\":[");
    for (i, k) in kept.iter().enumerate() {
        if i > 0 {
            body.extend_from_slice(b",");
        }
        write_json_string(k, &mut body);
    }
    body.extend_from_slice(b"]}");
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
