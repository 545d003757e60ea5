//! The AWS event-stream binary framing (`application/vnd.amazon.eventstream`) that Bedrock's
//! `ConverseStream` answers with, and the CRC-32 it needs.
//!
//! A message is `[total length u32 BE][headers length u32 BE][prelude CRC32][headers][payload]
//! [message CRC32]`: the prelude CRC covers the first 8 bytes, the message CRC everything before
//! it. A string header is `[name length u8][name][7u8][value length u16 BE][value]`. The CRC is
//! CRC-32/ISO-HDLC (IEEE 802.3, zlib's): reflected polynomial `0xEDB88320`, initial value and final
//! XOR `0xFFFFFFFF`.

/// Header value type tag of a string.
const STRING: u8 = 7;

/// The CRC-32 lookup table, built at compile time.
static TABLE: [u32; 256] = table();

const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

/// CRC-32 (IEEE, as zlib's `crc32`) of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// Appends one string header. Names are at most 255 bytes and values at most 65535 (the mock's
/// are short constants).
fn header(out: &mut Vec<u8>, name: &str, value: &str) {
    debug_assert!(name.len() <= usize::from(u8::MAX) && value.len() <= usize::from(u16::MAX));
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.push(STRING);
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

/// Appends one framed message with string `headers`; `payload` writes the payload in place.
pub fn message(out: &mut Vec<u8>, headers: &[(&str, &str)], payload: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 12]);
    for (name, value) in headers {
        header(out, name, value);
    }
    let headers_len = out.len() - start - 12;
    payload(out);
    let total = out.len() - start + 4;
    out[start..start + 4].copy_from_slice(&(total as u32).to_be_bytes());
    out[start + 4..start + 8].copy_from_slice(&(headers_len as u32).to_be_bytes());
    let prelude_crc = crc32(&out[start..start + 8]);
    out[start + 8..start + 12].copy_from_slice(&prelude_crc.to_be_bytes());
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// One Bedrock stream event: headers `:event-type` = `event_type`, `:content-type` =
/// `application/json`, `:message-type` = `event`, and the JSON payload `payload` writes.
pub fn event(event_type: &str, payload: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    message(
        &mut out,
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn empty_message_matches_aws_vector() {
        // The "empty message" test vector of the AWS SDKs' event-stream codecs.
        let mut out = Vec::new();
        message(&mut out, &[], |_| {});
        assert_eq!(
            out,
            [0, 0, 0, 0x10, 0, 0, 0, 0, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff]
        );
    }

    #[test]
    fn event_layout() {
        let m = event("messageStart", |o| o.extend_from_slice(b"{}"));
        let total = u32::from_be_bytes([m[0], m[1], m[2], m[3]]) as usize;
        let hlen = u32::from_be_bytes([m[4], m[5], m[6], m[7]]) as usize;
        assert_eq!(total, m.len());
        assert_eq!(&m[12 + hlen..total - 4], b"{}");
        assert_eq!(m[12], 11);
        assert_eq!(&m[13..24], b":event-type");
        assert_eq!(m[24], 7);
        assert_eq!(&m[25..27], &[0, 12]);
        assert_eq!(&m[27..39], b"messageStart");
        let crc = u32::from_be_bytes([m[total - 4], m[total - 3], m[total - 2], m[total - 1]]);
        assert_eq!(crc, crc32(&m[..total - 4]));
    }
}
