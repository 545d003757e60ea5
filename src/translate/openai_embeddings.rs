//! OpenAI embeddings (`POST /v1/embeddings`): the caller's format (`decode_embed_request`,
//! `encode_embed_response`) for models of providers with their own embeddings API, and the
//! provider format of OpenAI-compatible upstreams (`encode_embed_request`,
//! `decode_embed_response`).
//!
//! - `input` is a string or an array of strings. Token-id inputs (`[1, 2]`, `[[1, 2]]`) are
//!   refused with `TranslateError::Unsupported` when translating: other providers take text.
//! - `encoding_format: "base64"` (what the openai-python SDK sends by default, decoding the answer
//!   itself) is answered with each vector as base64 of its little-endian `f32` bytes; `float` or
//!   none with number arrays. `user` is ignored.
//! - Upstream requests ask for `encoding_format: "float"` (every compatible server has it), with
//!   `input` a string when there is one text and an array otherwise. Answers are read as number
//!   arrays or base64 strings alike, in `index` order.

use serde_json::{json, Map, Value};

use crate::translate::{invalid, model::*, str_field, unsupported, upstream, TranslateError};

/// Decodes a caller's embeddings request; the flag is true when the caller asked for base64
/// vectors (`encoding_format: "base64"`).
pub fn decode_embed_request(body: &Value) -> Result<(EmbedRequest, bool), TranslateError> {
    let obj = body
        .as_object()
        .ok_or_else(|| invalid("the request body must be a JSON object"))?;
    let field = |k: &str| obj.get(k).filter(|v| !v.is_null());
    let model = match field("model") {
        Some(Value::String(m)) => m.clone(),
        Some(_) => return Err(invalid("model must be a string")),
        None => return Err(invalid("model: field required")),
    };
    let inputs = match field("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(invalid("input must not be empty"));
            }
            let mut inputs = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => inputs.push(s.clone()),
                    Value::Number(_) | Value::Array(_) => {
                        return Err(unsupported("input as token ids"))
                    }
                    _ => return Err(invalid("input must be a string or an array of strings")),
                }
            }
            inputs
        }
        Some(_) => return Err(invalid("input must be a string or an array of strings")),
        None => return Err(invalid("input: field required")),
    };
    let dimensions = match field("dimensions") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|d| u32::try_from(d).ok())
                .filter(|&d| d > 0)
                .ok_or_else(|| invalid("dimensions must be a positive integer"))?,
        ),
    };
    let base64 = match field("encoding_format") {
        None => false,
        Some(Value::String(f)) if f == "float" => false,
        Some(Value::String(f)) if f == "base64" => true,
        Some(_) => return Err(invalid("encoding_format must be 'float' or 'base64'")),
    };
    Ok((
        EmbedRequest {
            model,
            inputs,
            dimensions,
        },
        base64,
    ))
}

/// A vector component as JSON: the shortest decimal that reads back as the same `f32` (a
/// widening `f32 as f64` would print noise digits). Non-finite values, which JSON cannot carry,
/// become 0.
fn float_json(x: f32) -> Value {
    x.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(json!(0.0), Value::Number)
}

/// Encodes the answer for an OpenAI-format caller (`base64`: as the caller asked).
pub fn encode_embed_response(resp: &EmbedResponse, base64: bool) -> Value {
    let data: Vec<Value> = resp
        .vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                let mut bytes = Vec::with_capacity(v.len() * 4);
                for x in v {
                    bytes.extend_from_slice(&x.to_le_bytes());
                }
                Value::String(base64_encode(&bytes))
            } else {
                Value::Array(v.iter().map(|&x| float_json(x)).collect())
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": resp.model,
        "usage": {"prompt_tokens": resp.input_tokens, "total_tokens": resp.input_tokens},
    })
}

/// Encodes an embeddings request for an OpenAI-compatible provider.
pub fn encode_embed_request(req: &EmbedRequest) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    let input = match req.inputs.as_slice() {
        [one] => json!(one),
        many => json!(many),
    };
    body.insert("input".into(), input);
    if let Some(d) = req.dimensions {
        body.insert("dimensions".into(), json!(d));
    }
    body.insert("encoding_format".into(), json!("float"));
    Value::Object(body)
}

/// Decodes an OpenAI-compatible embeddings answer (float arrays or base64 strings).
pub fn decode_embed_response(body: &Value) -> Result<EmbedResponse, TranslateError> {
    let data = body
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| upstream("embeddings answer without data"))?;
    let mut indexed = Vec::with_capacity(data.len());
    for (pos, item) in data.iter().enumerate() {
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(pos as u64);
        let vector = match item.get("embedding") {
            Some(Value::Array(xs)) => xs
                .iter()
                .map(|x| {
                    x.as_f64()
                        .map(|f| f as f32)
                        .ok_or_else(|| upstream("embedding component is not a number"))
                })
                .collect::<Result<Vec<f32>, _>>()?,
            Some(Value::String(b64)) => {
                let bytes =
                    base64_decode(b64).ok_or_else(|| upstream("embedding is not valid base64"))?;
                if bytes.len() % 4 != 0 {
                    return Err(upstream("base64 embedding is not a list of f32"));
                }
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            }
            _ => return Err(upstream("embeddings item without embedding")),
        };
        indexed.push((index, vector));
    }
    indexed.sort_by_key(|(i, _)| *i);
    Ok(EmbedResponse {
        model: str_field(body, "model").unwrap_or_default().to_string(),
        vectors: indexed.into_iter().map(|(_, v)| v).collect(),
        input_tokens: body
            .pointer("/usage/prompt_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    })
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (k, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(char::from(BASE64_ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard (or URL-safe) base64, padded or not; `None` when malformed.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    }
    let trimmed = text.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for &c in trimmed.as_bytes() {
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A lone trailing character carries fewer than 8 bits: not valid base64.
    if bits >= 6 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str = include_str!("../../tests/fixtures/translate/openai/embeddings.request.json");
    const FLOAT_REQ: &str =
        include_str!("../../tests/fixtures/translate/openai/embeddings.float.request.json");
    const RESP: &str =
        include_str!("../../tests/fixtures/translate/openai/embeddings.response.json");
    const B64_RESP: &str =
        include_str!("../../tests/fixtures/translate/openai/embeddings.base64.response.json");

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn canonical_response() -> EmbedResponse {
        EmbedResponse {
            model: "text-embedding-3-small".into(),
            vectors: vec![
                vec![0.002_306_43, -0.009_327_29, 0.015_797_3, -0.028_145_7],
                vec![-0.012_345_7, 0.045_678_9, 0.5, -0.25],
            ],
            input_tokens: 4,
        }
    }

    #[test]
    fn golden_requests() {
        // What the openai-python SDK sends by default: base64.
        assert_eq!(
            decode_embed_request(&parse(REQ)).unwrap(),
            (
                EmbedRequest {
                    model: "text-embedding-3-small".into(),
                    inputs: vec!["first text".into(), "second text".into()],
                    dimensions: None,
                },
                true
            )
        );
        let (req, base64) = decode_embed_request(&parse(FLOAT_REQ)).unwrap();
        assert!(!base64);
        assert_eq!(req.inputs, vec!["first text"]);
        assert_eq!(req.dimensions, Some(4));
        assert_eq!(encode_embed_request(&req), parse(FLOAT_REQ));
    }

    #[test]
    fn golden_responses_both_directions() {
        assert_eq!(
            encode_embed_response(&canonical_response(), false),
            parse(RESP)
        );
        assert_eq!(
            encode_embed_response(&canonical_response(), true),
            parse(B64_RESP)
        );
        assert_eq!(
            decode_embed_response(&parse(RESP)).unwrap(),
            canonical_response()
        );
        assert_eq!(
            decode_embed_response(&parse(B64_RESP)).unwrap(),
            canonical_response()
        );
    }

    #[test]
    fn request_refusals_and_errors() {
        for input in [json!([1, 2, 3]), json!([[1, 2], [3]])] {
            let body = json!({"model": "m", "input": input});
            assert_eq!(
                decode_embed_request(&body),
                Err(unsupported("input as token ids"))
            );
        }
        for (body, named) in [
            (json!({"input": "x"}), "model"),
            (json!({"model": "m"}), "input"),
            (json!({"model": "m", "input": []}), "input"),
            (json!({"model": "m", "input": [null]}), "input"),
            (
                json!({"model": "m", "input": "x", "dimensions": 0}),
                "dimensions",
            ),
            (
                json!({"model": "m", "input": "x", "encoding_format": "int8"}),
                "encoding_format",
            ),
        ] {
            match decode_embed_request(&body) {
                Err(TranslateError::Invalid(m)) => assert!(m.contains(named), "{m}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn provider_answers_in_any_order_and_malformed() {
        let body = json!({"data": [
            {"object": "embedding", "index": 1, "embedding": [2.0]},
            {"object": "embedding", "index": 0, "embedding": [1.0]}
        ], "model": "m"});
        let r = decode_embed_response(&body).unwrap();
        assert_eq!(r.vectors, vec![vec![1.0], vec![2.0]]);
        assert_eq!(r.input_tokens, 0);
        for bad in [
            json!({}),
            json!({"data": [{"embedding": "@@@"}]}),
            json!({"data": [{"embedding": "AAA="}]}),
            json!({"data": [{"embedding": ["x"]}]}),
            json!({"data": [{}]}),
        ] {
            assert!(matches!(
                decode_embed_response(&bad),
                Err(TranslateError::Upstream(_))
            ));
        }
    }

    #[test]
    fn floats_are_written_at_f32_precision() {
        assert_eq!(float_json(0.1).to_string(), "0.1");
        assert_eq!(float_json(-1.5e-7).to_string(), "-1.5e-7");
        assert_eq!(float_json(f32::NAN), json!(0.0));
    }

    #[test]
    fn base64_known_vectors_and_round_trip() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).unwrap(), plain.as_bytes());
        }
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64_encode(&bytes)).unwrap(), bytes);
        assert_eq!(base64_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(base64_decode("A").is_none());
        assert!(base64_decode("a b").is_none());
    }
}
