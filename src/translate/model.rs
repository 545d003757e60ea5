//! The canonical model every wire format translates to and from (hub and spoke: each format
//! needs one decoder and one encoder per direction instead of one translator per pair).
//!
//! Conventions every codec follows:
//! - Tool results are `Part::ToolResult` inside a `Role::User` message (Anthropic's shape);
//!   OpenAI's `tool` messages and Gemini's `functionResponse` parts map onto it.
//! - System instructions live in `ChatRequest::system`, never in `messages`.
//! - `Usage::input_tokens` counts every prompt token, cached ones included (OpenAI's meaning);
//!   `cached_input_tokens` and `cache_creation_input_tokens` are subsets of it. Formats that count
//!   them apart (Anthropic) add or subtract when decoding or encoding.
//! - Tool-call arguments are carried as JSON text, exactly as received, because streams deliver
//!   them in pieces that are not JSON on their own.

use serde_json::Value;

/// One chat request, whatever format it arrived in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The model name as the provider knows it (set by routing before encoding).
    pub model: String,
    /// System instructions, in order (OpenAI `system`/`developer` messages, Anthropic `system`,
    /// Gemini `systemInstruction`).
    pub system: Vec<String>,
    /// The conversation, oldest first.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    pub tools: Vec<Tool>,
    /// How the model must use the tools; `None` leaves it to the provider's default.
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several tools in one turn; `None` leaves the default.
    pub parallel_tool_calls: Option<bool>,
    /// Upper bound on generated tokens.
    pub max_tokens: Option<u64>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Top-k sampling (Anthropic, Gemini, Cohere).
    pub top_k: Option<u64>,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Presence penalty (OpenAI, Gemini, Cohere).
    pub presence_penalty: Option<f64>,
    /// Frequency penalty (OpenAI, Gemini, Cohere).
    pub frequency_penalty: Option<f64>,
    /// Sampling seed.
    pub seed: Option<i64>,
    /// Whether the caller wants a stream.
    pub stream: bool,
    /// OpenAI `stream_options.include_usage`: a final usage chunk in OpenAI-format streams.
    pub stream_include_usage: bool,
    /// Plain text, JSON mode, or a JSON schema.
    pub response_format: ResponseFormat,
    /// Reasoning / extended thinking settings.
    pub reasoning: Option<Reasoning>,
    /// An end-user id for abuse monitoring (OpenAI `user`, Anthropic `metadata.user_id`).
    pub user: Option<String>,
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The caller (also carries tool results).
    User,
    /// The model.
    Assistant,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said, in order.
    pub parts: Vec<Part>,
}

/// One piece of a message or of a response.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Plain text.
    Text(String),
    /// An image.
    Image(ImageSource),
    /// The model calling a tool.
    ToolCall(ToolCall),
    /// The result of a tool call, sent back by the caller.
    ToolResult(ToolResult),
    /// Reasoning the model showed; `signature` must go back unchanged on later turns
    /// (Anthropic verifies it).
    Thinking {
        /// The reasoning text (may be empty when only a signature/summary exists).
        text: String,
        /// Anthropic's signature, or Gemini's `thoughtSignature`.
        signature: Option<String>,
    },
    /// Reasoning the provider returned encrypted (Anthropic `redacted_thinking`).
    RedactedThinking {
        /// Opaque data, sent back unchanged.
        data: String,
    },
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// A URL the provider fetches (OpenAI `image_url.url` that is not a data URL).
    Url(String),
    /// Inline bytes, base64-encoded.
    Base64 {
        /// For example `image/png`.
        media_type: String,
        /// Base64 data (no `data:` prefix).
        data: String,
    },
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// Its id; results refer to it. Codecs of formats without ids (Gemini) make one up.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as JSON text (an object), exactly as the model produced them.
    pub arguments: String,
}

/// The result of a tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The id of the call it answers.
    pub call_id: String,
    /// The tool's name when the format carries it (Gemini needs it; encoders may look it up
    /// from the matching `ToolCall` earlier in the conversation).
    pub name: Option<String>,
    /// The result: text and image parts.
    pub content: Vec<Part>,
    /// Whether the tool failed.
    pub is_error: bool,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// JSON schema of its arguments (an object schema; `{"type":"object"}` when none was given).
    pub parameters: Value,
    /// OpenAI `strict` function calling.
    pub strict: Option<bool>,
}

/// How the model must use tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// No tool calls.
    None,
    /// At least one tool call, any tool.
    Required,
    /// This tool.
    Tool(String),
}

/// The shape the answer must have.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ResponseFormat {
    /// Free text.
    #[default]
    Text,
    /// Any JSON object (JSON mode).
    JsonObject,
    /// JSON matching a schema (structured outputs).
    JsonSchema {
        /// The schema's name.
        name: String,
        /// The JSON schema.
        schema: Value,
        /// Whether the provider must follow it exactly.
        strict: bool,
    },
}

/// Reasoning settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reasoning {
    /// OpenAI `reasoning_effort`: `minimal`, `low`, `medium` or `high`.
    pub effort: Option<String>,
    /// Anthropic `thinking.budget_tokens` / Gemini `thinkingBudget`.
    pub budget_tokens: Option<u64>,
    /// Whether reasoning text should be returned (Gemini `includeThoughts`).
    pub include_thoughts: bool,
}

/// Why generation stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StopReason {
    /// A natural end.
    #[default]
    EndTurn,
    /// The token limit.
    MaxTokens,
    /// A stop sequence (which one, when known).
    StopSequence(Option<String>),
    /// The model called tools and waits for results.
    ToolUse,
    /// A safety filter stopped it.
    ContentFilter,
    /// The model refused (Anthropic `refusal`).
    Refusal,
    /// Anything else, with the provider's own word.
    Other(String),
}

/// Token counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// All prompt tokens, cached ones included.
    pub input_tokens: u64,
    /// Generated tokens, reasoning included.
    pub output_tokens: u64,
    /// Prompt tokens read from the provider's cache (a subset of `input_tokens`).
    pub cached_input_tokens: u64,
    /// Prompt tokens written to the provider's cache (a subset of `input_tokens`).
    pub cache_creation_input_tokens: u64,
    /// Reasoning tokens (a subset of `output_tokens`).
    pub reasoning_tokens: u64,
}

/// One complete (non-streamed) chat answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatResponse {
    /// The provider's response id (or one made up when it has none).
    pub id: String,
    /// The model that answered, as the provider named it.
    pub model: String,
    /// Unix seconds when it was made.
    pub created: u64,
    /// The answer: text, thinking and tool calls, in order.
    pub parts: Vec<Part>,
    /// Why it stopped.
    pub stop: StopReason,
    /// Token counts.
    pub usage: Usage,
}

/// One event of a streamed answer. Decoders turn a provider's stream into these; encoders turn
/// them into the caller's stream. Encoders hold `Finish` and `Usage` back until `finish()` so that
/// formats which put both in one final event (Anthropic `message_delta`) get both.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The stream began (first event; decoders emit it exactly once).
    Start {
        /// Response id.
        id: String,
        /// Model that answers.
        model: String,
    },
    /// A piece of answer text.
    TextDelta(String),
    /// A piece of reasoning text.
    ThinkingDelta(String),
    /// The signature that closes a thinking block.
    ThinkingSignature(String),
    /// A whole redacted thinking block.
    RedactedThinking(String),
    /// A tool call begins. `index` counts tool calls in this response from 0.
    ToolCallStart {
        /// Which tool call (0-based, per response).
        index: u32,
        /// Its id.
        id: String,
        /// The tool's name.
        name: String,
    },
    /// A piece of a tool call's arguments (JSON text, not valid on its own).
    ToolCallDelta {
        /// Which tool call.
        index: u32,
        /// The piece.
        arguments: String,
    },
    /// Token counts so far (later events replace earlier values that are non-zero).
    Usage(Usage),
    /// Why generation stopped.
    Finish(StopReason),
}

/// An embeddings request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbedRequest {
    /// The model as the provider knows it.
    pub model: String,
    /// The texts to embed.
    pub inputs: Vec<String>,
    /// Requested output dimensions, when the model allows choosing.
    pub dimensions: Option<u32>,
}

/// An embeddings answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbedResponse {
    /// The model that answered.
    pub model: String,
    /// One vector per input, in input order.
    pub vectors: Vec<Vec<f32>>,
    /// Prompt tokens, when the provider reports them.
    pub input_tokens: u64,
}
