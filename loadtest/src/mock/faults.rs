//! Fault injection chosen by substrings of the requested model name (the JSON `model` field, or the
//! model in a Gemini path or, percent-decoded, a Bedrock path). Several may combine, e.g. `slow-cut`.
//!
//! | substring | effect |
//! | --- | --- |
//! | `fail429` | 429 with `retry-after: 1` and an error body in the route's dialect (Bedrock: plus `x-amzn-errortype`) |
//! | `fail400` | 400 with an error body (a request the provider refuses) |
//! | `fail401`, `fail403` | 401 or 403 with an error body (a refused key) |
//! | `fail500` | 500 with an error body |
//! | `fail503` | 503 with an error body |
//! | `reset` | the connection is closed without a reply (earlier pipelined replies are sent first) |
//! | `slow` | `--slow-ms` (default 2000) extra wait before the response head |
//! | `cut` | streaming: the head and 2 events, then the connection is dropped mid-body; non-streaming: the head and half the body, then dropped |
//! | `flakyN` (N a number) | the first N requests for this model name since start or the last reset answer 500, later ones succeed |
//!
//! The same substrings in the request's credential (`authorization`, `x-api-key`, `x-goog-api-key`
//! or `api-key`) apply too, so one key of a provider can fail while its others work.

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

/// N of a `flakyN` in `model`, if there is one.
pub fn flaky_count(model: &str) -> Option<u32> {
    let at = model.find("flaky")?;
    let digits: String = model[at + "flaky".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

impl Faults {
    /// These faults and `other`'s together (the first status wins).
    pub fn or(self, other: Faults) -> Faults {
        Faults {
            status: self.status.or(other.status),
            reset: self.reset || other.reset,
            slow: self.slow || other.slow,
            cut: self.cut || other.cut,
        }
    }

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
        } else if model.contains("fail400") {
            Some(400)
        } else if model.contains("fail401") {
            Some(401)
        } else if model.contains("fail403") {
            Some(403)
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
    fn flaky_counts() {
        assert_eq!(super::flaky_count("gpt-flaky2"), Some(2));
        assert_eq!(super::flaky_count("flaky10-x"), Some(10));
        assert_eq!(super::flaky_count("flaky"), None);
        assert_eq!(super::flaky_count("gpt-4o"), None);
        let f = Faults::from_model("slow").or(Faults::from_model("sk-fail429"));
        assert_eq!(f.status, Some(429));
        assert!(f.slow);
    }

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
