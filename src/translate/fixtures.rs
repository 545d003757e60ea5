//! Canonical sample requests, responses and streams shared by every codec's golden tests: each
//! format has native JSON files under `tests/fixtures/translate/<format>/` that must decode to,
//! and be encoded from, these values. Two codecs agreeing with the same canonical value is what
//! makes any-to-any translation correct.

use serde_json::json;

use super::model::*;

/// System prompt, two turns, sampling parameters, stop sequences.
pub fn text_request() -> ChatRequest {
    ChatRequest {
        model: "test-model".into(),
        system: vec!["You are terse.".into()],
        messages: vec![
            Message {
                role: Role::User,
                parts: vec![Part::Text("Hi".into())],
            },
            Message {
                role: Role::Assistant,
                parts: vec![Part::Text("Hello.".into())],
            },
            Message {
                role: Role::User,
                parts: vec![Part::Text("Capital of France?".into())],
            },
        ],
        max_tokens: Some(100),
        temperature: Some(0.5),
        top_p: Some(0.9),
        stop: vec!["END".into()],
        ..ChatRequest::default()
    }
}

/// A weather tool, the model's call, its result and a follow-up; `tool_choice` auto.
pub fn tool_request() -> ChatRequest {
    ChatRequest {
        model: "test-model".into(),
        system: vec![],
        messages: vec![
            Message {
                role: Role::User,
                parts: vec![Part::Text("Weather in Paris?".into())],
            },
            Message {
                role: Role::Assistant,
                parts: vec![Part::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Paris"}"#.into(),
                })],
            },
            Message {
                role: Role::User,
                parts: vec![Part::ToolResult(ToolResult {
                    call_id: "call_1".into(),
                    name: None,
                    content: vec![Part::Text("18C, sunny".into())],
                    is_error: false,
                })],
            },
        ],
        tools: vec![Tool {
            name: "get_weather".into(),
            description: Some("Current weather for a city".into()),
            parameters: json!({
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"]
            }),
            strict: None,
        }],
        tool_choice: Some(ToolChoice::Auto),
        max_tokens: Some(200),
        ..ChatRequest::default()
    }
}

/// A user message with an image by URL and one inline (base64).
pub fn image_request() -> ChatRequest {
    ChatRequest {
        model: "test-model".into(),
        messages: vec![Message {
            role: Role::User,
            parts: vec![
                Part::Text("Compare these.".into()),
                Part::Image(ImageSource::Url("https://example.com/a.png".into())),
                Part::Image(ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBORw0KGgo=".into(),
                }),
            ],
        }],
        max_tokens: Some(50),
        ..ChatRequest::default()
    }
}

/// Structured output with a JSON schema.
pub fn json_schema_request() -> ChatRequest {
    ChatRequest {
        model: "test-model".into(),
        messages: vec![Message {
            role: Role::User,
            parts: vec![Part::Text("Name a city.".into())],
        }],
        response_format: ResponseFormat::JsonSchema {
            name: "city".into(),
            schema: json!({
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
                "additionalProperties": false
            }),
            strict: true,
        },
        max_tokens: Some(50),
        ..ChatRequest::default()
    }
}

/// A later turn that sends back the model's earlier thinking (with its signature) and tool call.
pub fn thinking_request() -> ChatRequest {
    ChatRequest {
        model: "test-model".into(),
        messages: vec![
            Message {
                role: Role::User,
                parts: vec![Part::Text("Weather in Paris?".into())],
            },
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Thinking {
                        text: "The user wants weather; call the tool.".into(),
                        signature: Some("sig-abc".into()),
                    },
                    Part::ToolCall(ToolCall {
                        id: "call_1".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"city":"Paris"}"#.into(),
                    }),
                ],
            },
            Message {
                role: Role::User,
                parts: vec![Part::ToolResult(ToolResult {
                    call_id: "call_1".into(),
                    name: None,
                    content: vec![Part::Text("18C".into())],
                    is_error: false,
                })],
            },
        ],
        tools: tool_request().tools,
        max_tokens: Some(2048),
        reasoning: Some(Reasoning {
            effort: None,
            budget_tokens: Some(1024),
            include_thoughts: true,
        }),
        ..ChatRequest::default()
    }
}

/// A plain text answer.
pub fn text_response() -> ChatResponse {
    ChatResponse {
        id: "resp_1".into(),
        model: "test-model".into(),
        created: 1_700_000_000,
        parts: vec![Part::Text("Paris.".into())],
        stop: StopReason::EndTurn,
        usage: Usage {
            input_tokens: 12,
            output_tokens: 2,
            ..Usage::default()
        },
    }
}

/// An answer that calls a tool, after some text.
pub fn tool_response() -> ChatResponse {
    ChatResponse {
        id: "resp_2".into(),
        model: "test-model".into(),
        created: 1_700_000_000,
        parts: vec![
            Part::Text("Let me check.".into()),
            Part::ToolCall(ToolCall {
                id: "call_9".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
            }),
        ],
        stop: StopReason::ToolUse,
        usage: Usage {
            input_tokens: 30,
            output_tokens: 15,
            cached_input_tokens: 10,
            ..Usage::default()
        },
    }
}

/// A streamed text answer.
pub fn text_stream() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "resp_1".into(),
            model: "test-model".into(),
        },
        StreamEvent::TextDelta("Par".into()),
        StreamEvent::TextDelta("is.".into()),
        StreamEvent::Finish(StopReason::EndTurn),
        StreamEvent::Usage(Usage {
            input_tokens: 12,
            output_tokens: 2,
            ..Usage::default()
        }),
    ]
}

/// A streamed answer with thinking, then a tool call whose arguments arrive in three pieces.
pub fn tool_stream() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "resp_2".into(),
            model: "test-model".into(),
        },
        StreamEvent::ThinkingDelta("Need the tool.".into()),
        StreamEvent::ThinkingSignature("sig-xyz".into()),
        StreamEvent::TextDelta("Checking.".into()),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_9".into(),
            name: "get_weather".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"ci".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "ty\":\"Pa".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "ris\"}".into(),
        },
        StreamEvent::Finish(StopReason::ToolUse),
        StreamEvent::Usage(Usage {
            input_tokens: 30,
            output_tokens: 15,
            ..Usage::default()
        }),
    ]
}
