//! Route table: which handler serves a method and path.

use crate::error::ApiFormat;
use crate::http::request::Method;
use crate::metrics::RouteLabel;
use crate::providers::Endpoint;

/// A Gemini model action, from the path's `:action` suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeminiAction {
    /// `:generateContent`
    Generate,
    /// `:streamGenerateContent`
    Stream,
    /// `:countTokens`
    CountTokens,
}

/// A model-serving call: which API the caller speaks and what it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    /// An OpenAI endpoint.
    OpenAi(Endpoint),
    /// Anthropic `POST /v1/messages`.
    AnthropicMessages,
    /// Anthropic `POST /v1/messages/count_tokens`.
    AnthropicCountTokens,
    /// Gemini `POST /models/{model}:{action}`; the model is read from the path.
    Gemini(GeminiAction),
}

impl Inbound {
    /// The API format the caller speaks (errors and answers use it).
    pub fn format(self) -> ApiFormat {
        match self {
            Inbound::OpenAi(_) => ApiFormat::OpenAi,
            Inbound::AnthropicMessages | Inbound::AnthropicCountTokens => ApiFormat::Anthropic,
            Inbound::Gemini(_) => ApiFormat::Gemini,
        }
    }
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A model call proxied to a provider.
    Proxy(Inbound),
    /// `GET /v1/models`
    Models,
    /// `GET /health`
    Health,
    /// `GET /ready`
    Ready,
    /// `GET /metrics`
    Metrics,
    /// `POST /admin/reload`
    AdminReload,
    /// Unknown path.
    NotFound,
    /// Known path, wrong method.
    MethodNotAllowed,
}

impl Route {
    /// The metrics label.
    pub fn label(self) -> RouteLabel {
        match self {
            Route::Proxy(Inbound::OpenAi(Endpoint::ChatCompletions)) => RouteLabel::ChatCompletions,
            Route::Proxy(Inbound::OpenAi(Endpoint::Completions)) => RouteLabel::Completions,
            Route::Proxy(Inbound::OpenAi(Endpoint::Embeddings)) => RouteLabel::Embeddings,
            Route::Proxy(Inbound::OpenAi(Endpoint::Responses)) => RouteLabel::Responses,
            Route::Proxy(Inbound::AnthropicMessages) => RouteLabel::Messages,
            Route::Proxy(Inbound::AnthropicCountTokens) => RouteLabel::CountTokens,
            Route::Proxy(Inbound::Gemini(_)) => RouteLabel::GenerateContent,
            Route::Models => RouteLabel::Models,
            Route::Health | Route::Ready => RouteLabel::Health,
            Route::Metrics => RouteLabel::Metrics,
            Route::AdminReload => RouteLabel::Admin,
            Route::NotFound | Route::MethodNotAllowed => RouteLabel::Other,
        }
    }
}

/// Classifies a request. OpenAI routes are served at `/v1/...` and also under `/openai/v1/...`.
pub fn classify(method: Option<Method>, path: &[u8]) -> Route {
    let api = path
        .strip_prefix(b"/openai")
        .filter(|p| p.starts_with(b"/v1/"))
        .unwrap_or(path);
    let post = |i: Inbound| {
        if method == Some(Method::Post) {
            Route::Proxy(i)
        } else {
            Route::MethodNotAllowed
        }
    };
    if let Some(rest) = path.strip_prefix(b"/anthropic") {
        return match rest {
            b"/v1/messages" => post(Inbound::AnthropicMessages),
            b"/v1/messages/count_tokens" => post(Inbound::AnthropicCountTokens),
            _ => Route::NotFound,
        };
    }
    if path.starts_with(b"/genai/") {
        return match gemini_model(path) {
            Some((_, action)) => post(Inbound::Gemini(action)),
            None => Route::NotFound,
        };
    }
    let get = |r: Route| {
        // HEAD is GET without the body (the responders leave it out).
        if matches!(method, Some(Method::Get) | Some(Method::Head)) {
            r
        } else {
            Route::MethodNotAllowed
        }
    };
    match api {
        b"/v1/chat/completions" => post(Inbound::OpenAi(Endpoint::ChatCompletions)),
        b"/v1/completions" => post(Inbound::OpenAi(Endpoint::Completions)),
        b"/v1/embeddings" => post(Inbound::OpenAi(Endpoint::Embeddings)),
        b"/v1/responses" => post(Inbound::OpenAi(Endpoint::Responses)),
        b"/v1/messages" => post(Inbound::AnthropicMessages),
        b"/v1/messages/count_tokens" => post(Inbound::AnthropicCountTokens),
        b"/v1/models" => get(Route::Models),
        b"/health" => get(Route::Health),
        b"/ready" => get(Route::Ready),
        b"/metrics" => get(Route::Metrics),
        b"/admin/reload" => {
            if method == Some(Method::Post) {
                Route::AdminReload
            } else {
                Route::MethodNotAllowed
            }
        }
        _ => Route::NotFound,
    }
}

/// Splits a Gemini path `/genai/{v1beta|v1|v1alpha}/models/{model}:{action}` into the model
/// (still percent-encoded, may contain `/`) and the action.
pub fn gemini_model(path: &[u8]) -> Option<(&[u8], GeminiAction)> {
    let rest = path.strip_prefix(b"/genai/")?;
    let slash = memchr::memchr(b'/', rest)?;
    let version = &rest[..slash];
    if !matches!(version, b"v1beta" | b"v1" | b"v1alpha") {
        return None;
    }
    let rest = rest[slash..].strip_prefix(b"/models/")?;
    let colon = memchr::memrchr(b':', rest)?;
    let (model, action) = (&rest[..colon], &rest[colon + 1..]);
    if model.is_empty() {
        return None;
    }
    let action = match action {
        b"generateContent" => GeminiAction::Generate,
        b"streamGenerateContent" => GeminiAction::Stream,
        b"countTokens" => GeminiAction::CountTokens,
        _ => return None,
    };
    Some((model, action))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(
            classify(Some(Method::Post), b"/v1/chat/completions"),
            Route::Proxy(Inbound::OpenAi(Endpoint::ChatCompletions))
        );
        assert_eq!(
            classify(Some(Method::Post), b"/openai/v1/embeddings"),
            Route::Proxy(Inbound::OpenAi(Endpoint::Embeddings))
        );
        assert_eq!(
            classify(Some(Method::Get), b"/v1/chat/completions"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            classify(Some(Method::Get), b"/openai/v1/models"),
            Route::Models
        );
        assert_eq!(classify(Some(Method::Get), b"/nope"), Route::NotFound);
        let post = Some(Method::Post);
        assert_eq!(
            classify(post, b"/anthropic/v1/messages"),
            Route::Proxy(Inbound::AnthropicMessages)
        );
        assert_eq!(
            classify(post, b"/v1/messages"),
            Route::Proxy(Inbound::AnthropicMessages)
        );
        assert_eq!(
            classify(post, b"/anthropic/v1/messages/count_tokens"),
            Route::Proxy(Inbound::AnthropicCountTokens)
        );
        assert_eq!(
            classify(Some(Method::Get), b"/anthropic/v1/messages"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            classify(
                post,
                b"/genai/v1beta/models/openai/gpt-4o-mini:streamGenerateContent"
            ),
            Route::Proxy(Inbound::Gemini(GeminiAction::Stream))
        );
        assert_eq!(
            classify(post, b"/genai/v1/models/gemini-2.5-flash:generateContent"),
            Route::Proxy(Inbound::Gemini(GeminiAction::Generate))
        );
        assert_eq!(
            gemini_model(b"/genai/v1beta/models/openai/gpt-4o-mini:countTokens"),
            Some((&b"openai/gpt-4o-mini"[..], GeminiAction::CountTokens))
        );
        assert_eq!(
            classify(post, b"/genai/v2/models/x:generateContent"),
            Route::NotFound
        );
        assert_eq!(
            classify(post, b"/genai/v1beta/models/:generateContent"),
            Route::NotFound
        );
        assert_eq!(
            classify(post, b"/genai/v1beta/models/x:embed"),
            Route::NotFound
        );
        assert_eq!(
            classify(Some(Method::Get), b"/openai/health"),
            Route::NotFound
        );
    }
}
