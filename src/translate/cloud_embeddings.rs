//! Embeddings of the two cloud platforms whose embedding APIs are not their chat format:
//! Vertex AI's `:predict` (text-embedding and gemini-embedding models) and Bedrock's
//! `InvokeModel` for Cohere Embed (`cohere.embed-*`, several texts per call) and Amazon Titan
//! Text Embeddings (`amazon.titan-embed-*`, one text per call: more are refused).

use serde_json::{json, Value};

use crate::translate::{unsupported, upstream, EmbedRequest, EmbedResponse, TranslateError};

/// The `:predict` body for a Vertex embedding model.
pub fn vertex_encode(req: &EmbedRequest) -> Value {
    let instances: Vec<Value> = req.inputs.iter().map(|t| json!({ "content": t })).collect();
    let mut body = json!({ "instances": instances });
    if let Some(d) = req.dimensions {
        body["parameters"] = json!({ "outputDimensionality": d });
    }
    body
}

/// Reads a Vertex `:predict` embeddings answer.
pub fn vertex_decode(v: &Value) -> Result<EmbedResponse, TranslateError> {
    let predictions = v
        .get("predictions")
        .and_then(Value::as_array)
        .ok_or_else(|| upstream("embeddings answer without predictions"))?;
    let mut out = EmbedResponse::default();
    for p in predictions {
        let e = p
            .get("embeddings")
            .ok_or_else(|| upstream("prediction without embeddings"))?;
        out.vectors.push(floats(e.get("values"))?);
        out.input_tokens += e
            .pointer("/statistics/token_count")
            .and_then(Value::as_f64)
            .map_or(0, |n| n.max(0.0) as u64);
    }
    Ok(out)
}

/// The `InvokeModel` body for a Bedrock embedding model.
pub fn bedrock_encode(req: &EmbedRequest) -> Result<Value, TranslateError> {
    let model = bare_model(&req.model);
    if model.starts_with("cohere.embed") {
        let mut body = json!({
            "texts": req.inputs,
            "input_type": crate::translate::cohere::DEFAULT_EMBED_INPUT_TYPE,
        });
        if let Some(d) = req.dimensions {
            body["output_dimension"] = json!(d);
        }
        return Ok(body);
    }
    if model.starts_with("amazon.titan-embed") {
        let [text] = req.inputs.as_slice() else {
            return Err(unsupported(
                "several inputs in one request (Titan embeddings take one text per call)",
            ));
        };
        let mut body = json!({ "inputText": text });
        if let Some(d) = req.dimensions {
            body["dimensions"] = json!(d);
        }
        return Ok(body);
    }
    Err(unsupported(format!(
        "embeddings with Bedrock model '{}' (supported: cohere.embed-*, amazon.titan-embed-*)",
        req.model
    )))
}

/// Reads a Bedrock `InvokeModel` embeddings answer of `model`.
pub fn bedrock_decode(model: &str, v: &Value) -> Result<EmbedResponse, TranslateError> {
    let mut out = EmbedResponse::default();
    if bare_model(model).starts_with("amazon.titan-embed") {
        out.vectors.push(floats(v.get("embedding"))?);
        out.input_tokens = v
            .get("inputTextTokenCount")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        return Ok(out);
    }
    // Cohere on Bedrock: `embeddings` is a list of vectors, or `{float: [...]}` by type.
    let list = match v.get("embeddings") {
        Some(Value::Object(by_type)) => by_type.get("float"),
        other => other,
    }
    .and_then(Value::as_array)
    .ok_or_else(|| upstream("embeddings answer without embeddings"))?;
    for e in list {
        out.vectors.push(floats(Some(e))?);
    }
    Ok(out)
}

/// A Bedrock model id without a cross-region inference prefix (`us.`, `eu.`, `apac.`, ...).
fn bare_model(model: &str) -> &str {
    match model.split_once('.') {
        Some((prefix, rest)) if prefix.len() <= 4 && rest.contains('.') => rest,
        _ => model,
    }
}

fn floats(v: Option<&Value>) -> Result<Vec<f32>, TranslateError> {
    v.and_then(Value::as_array)
        .ok_or_else(|| upstream("embedding is not a list of numbers"))?
        .iter()
        .map(|x| {
            x.as_f64()
                .map(|f| f as f32)
                .ok_or_else(|| upstream("embedding is not a list of numbers"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(model: &str, inputs: &[&str]) -> EmbedRequest {
        EmbedRequest {
            model: model.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            dimensions: Some(8),
        }
    }

    #[test]
    fn vertex_round_trip() {
        let body = vertex_encode(&req("text-embedding-005", &["a", "b"]));
        assert_eq!(
            body,
            json!({"instances": [{"content": "a"}, {"content": "b"}], "parameters": {"outputDimensionality": 8}})
        );
        let answer = json!({"predictions": [
            {"embeddings": {"values": [0.5, -1.0], "statistics": {"token_count": 2.0, "truncated": false}}},
            {"embeddings": {"values": [1.0, 0.0], "statistics": {"token_count": 3.0, "truncated": false}}}
        ]});
        let r = vertex_decode(&answer).unwrap();
        assert_eq!(r.vectors, vec![vec![0.5, -1.0], vec![1.0, 0.0]]);
        assert_eq!(r.input_tokens, 5);
        assert!(vertex_decode(&json!({"predictions": [{"x": 1}]})).is_err());
    }

    #[test]
    fn bedrock_cohere_and_titan() {
        let body = bedrock_encode(&req("cohere.embed-english-v3", &["a", "b"])).unwrap();
        assert_eq!(body["texts"], json!(["a", "b"]));
        assert!(body["input_type"].is_string());
        let r = bedrock_decode(
            "cohere.embed-english-v3",
            &json!({"embeddings": [[0.1, 0.2], [0.3, 0.4]], "id": "x", "texts": ["a", "b"]}),
        )
        .unwrap();
        assert_eq!(r.vectors.len(), 2);
        let r = bedrock_decode(
            "us.cohere.embed-v4:0",
            &json!({"embeddings": {"float": [[1.0]]}}),
        )
        .unwrap();
        assert_eq!(r.vectors, vec![vec![1.0]]);

        let body = bedrock_encode(&req("amazon.titan-embed-text-v2:0", &["a"])).unwrap();
        assert_eq!(body, json!({"inputText": "a", "dimensions": 8}));
        assert!(bedrock_encode(&req("amazon.titan-embed-text-v2:0", &["a", "b"])).is_err());
        let r = bedrock_decode(
            "amazon.titan-embed-text-v2:0",
            &json!({"embedding": [0.5, 0.5], "inputTextTokenCount": 4}),
        )
        .unwrap();
        assert_eq!((r.vectors.len(), r.input_tokens), (1, 4));
        assert!(bedrock_encode(&req("anthropic.claude-3", &["a"])).is_err());
    }
}
