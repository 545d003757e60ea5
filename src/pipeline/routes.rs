//! Route table: which handler serves a method and path.

use crate::http::request::Method;
use crate::metrics::RouteLabel;
use crate::providers::Endpoint;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// An OpenAI-format call proxied to a provider.
    Proxy(Endpoint),
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
            Route::Proxy(Endpoint::ChatCompletions) => RouteLabel::ChatCompletions,
            Route::Proxy(Endpoint::Completions) => RouteLabel::Completions,
            Route::Proxy(Endpoint::Embeddings) => RouteLabel::Embeddings,
            Route::Proxy(Endpoint::Responses) => RouteLabel::Responses,
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
    let post = |e: Endpoint| {
        if method == Some(Method::Post) {
            Route::Proxy(e)
        } else {
            Route::MethodNotAllowed
        }
    };
    let get = |r: Route| {
        // HEAD is GET without the body (the responders leave it out).
        if matches!(method, Some(Method::Get) | Some(Method::Head)) {
            r
        } else {
            Route::MethodNotAllowed
        }
    };
    match api {
        b"/v1/chat/completions" => post(Endpoint::ChatCompletions),
        b"/v1/completions" => post(Endpoint::Completions),
        b"/v1/embeddings" => post(Endpoint::Embeddings),
        b"/v1/responses" => post(Endpoint::Responses),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(
            classify(Some(Method::Post), b"/v1/chat/completions"),
            Route::Proxy(Endpoint::ChatCompletions)
        );
        assert_eq!(
            classify(Some(Method::Post), b"/openai/v1/embeddings"),
            Route::Proxy(Endpoint::Embeddings)
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
        assert_eq!(
            classify(Some(Method::Get), b"/openai/health"),
            Route::NotFound
        );
    }
}
