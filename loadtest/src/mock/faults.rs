//! Fault injection chosen by substrings of the requested model name (the JSON `model` field, or the
//! model in a Gemini path or, percent-decoded, a Bedrock path). Several may combine, e.g. `slow-cut`.
//!
//! | substring | effect |
//! | --- | --- |
//! | `fail429` | 429 with `retry-after: 1` and an error body in the route's dialect (Bedrock: plus `x-amzn-errortype`) |
//! | `fail500` | 500 with an error body |
//! | `fail503` | 503 with an error body |
//! | `reset` | the connection is closed without a reply (earlier pipelined replies are sent first) |
//! | `slow` | `--slow-ms` (default 2000) extra wait before the response head |
//! | `cut` | streaming: the head and 2 events, then the connection is dropped mid-body; non-streaming: the head and half the body, then dropped |

/// The faults a request asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Error status to answer with instead of a completion.
    pub status: Option<u16>,
    /// Close the connection without replying.
    pub reset: bool,
    /// Wait `--slow-ms` before the head.
    pub slow: bool,
    /// Drop the connection partway through the body.
    pub cut: bool,
}

impl Faults {
    /// The faults named in `model`.
    pub fn from_model(model: &str) -> Self {
        // Fast path: every fault name contains one of these letters sequences; most models have none.
        if !(model.contains("fail")
            || model.contains("reset")
            || model.contains("slow")
            || model.contains("cut"))
        {
            return Self::default();
        }
        let status = if model.contains("fail429") {
            Some(429)
        } else if model.contains("fail500") {
            Some(500)
        } else if model.contains("fail503") {
            Some(503)
        } else {
            None
        };
        Self {
            status,
            reset: model.contains("reset"),
            slow: model.contains("slow"),
            cut: model.contains("cut"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Faults;

    #[test]
    fn parses() {
        assert_eq!(Faults::from_model("gpt-4o-mini"), Faults::default());
        assert_eq!(Faults::from_model("x-fail429").status, Some(429));
        assert_eq!(Faults::from_model("fail503").status, Some(503));
        let f = Faults::from_model("slow-cut");
        assert!(f.slow && f.cut && !f.reset && f.status.is_none());
        assert!(Faults::from_model("reset").reset);
    }
}
