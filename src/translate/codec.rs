//! Dispatch from formats to their codec modules: the pipeline asks for "the caller's decoder" or
//! "the provider's stream decoder" without knowing which module implements it.

use serde_json::Value;

use super::{
    anthropic, bedrock, cohere, gemini, openai, openai_completions, openai_responses, ChatRequest,
    ChatResponse, ProviderError, StreamDecode, StreamEncode, TranslateError,
};
use crate::providers::WireFormat;

/// The chat formats a caller may speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerFormat {
    /// `/v1/chat/completions`
    OpenAiChat,
    /// `/v1/completions`
    OpenAiCompletions,
    /// `/v1/responses`
    OpenAiResponses,
    /// `/anthropic/v1/messages`
    Anthropic,
    /// `/genai/.../models/{model}:generateContent`
    Gemini,
}

impl CallerFormat {
    /// Decodes the caller's request.
    pub fn decode_request(self, body: &Value) -> Result<ChatRequest, TranslateError> {
        match self {
            CallerFormat::OpenAiChat => openai::decode_request(body),
            CallerFormat::OpenAiCompletions => openai_completions::decode_request(body),
            CallerFormat::OpenAiResponses => openai_responses::decode_request(body),
            CallerFormat::Anthropic => anthropic::decode_request(body),
            CallerFormat::Gemini => gemini::decode_request(body),
        }
    }

    /// Encodes the answer for the caller (`req` is the decoded request: the Responses API echoes
    /// its settings).
    pub fn encode_response(self, resp: &ChatResponse, req: &ChatRequest) -> Value {
        match self {
            CallerFormat::OpenAiChat => openai::encode_response(resp),
            CallerFormat::OpenAiCompletions => openai_completions::encode_response(resp),
            CallerFormat::OpenAiResponses => {
                openai_responses::encode_response_with_request(resp, req)
            }
            CallerFormat::Anthropic => anthropic::encode_response(resp),
            CallerFormat::Gemini => gemini::encode_response(resp),
        }
    }

    /// A stream encoder for the caller's format.
    pub fn stream_encoder(self, req: &ChatRequest) -> Box<dyn StreamEncode> {
        match self {
            CallerFormat::OpenAiChat => Box::new(openai::StreamEncoder::new(req)),
            CallerFormat::OpenAiCompletions => {
                Box::new(openai_completions::StreamEncoder::new(req))
            }
            CallerFormat::OpenAiResponses => Box::new(openai_responses::StreamEncoder::new(req)),
            CallerFormat::Anthropic => Box::new(anthropic::StreamEncoder::new(req)),
            CallerFormat::Gemini => Box::new(gemini::StreamEncoder::new(req)),
        }
    }

    /// Encodes an error body for the caller.
    pub fn encode_error(self, err: &ProviderError) -> Vec<u8> {
        match self {
            CallerFormat::OpenAiChat | CallerFormat::OpenAiCompletions => openai::encode_error(err),
            CallerFormat::OpenAiResponses => openai_responses::encode_error(err),
            CallerFormat::Anthropic => anthropic::encode_error(err),
            CallerFormat::Gemini => gemini::encode_error(err),
        }
    }
}

/// Encodes a request in a provider's format.
pub fn encode_request(wire: WireFormat, req: &ChatRequest) -> Result<Value, TranslateError> {
    match wire {
        WireFormat::OpenAi => openai::encode_request(req),
        WireFormat::Anthropic => anthropic::encode_request(req),
        WireFormat::Gemini => gemini::encode_request(req),
        WireFormat::Bedrock => bedrock::encode_request(req),
        WireFormat::Cohere => cohere::encode_request(req),
    }
}

/// Decodes a provider's complete answer.
pub fn decode_response(wire: WireFormat, body: &Value) -> Result<ChatResponse, TranslateError> {
    match wire {
        WireFormat::OpenAi => openai::decode_response(body),
        WireFormat::Anthropic => anthropic::decode_response(body),
        WireFormat::Gemini => gemini::decode_response(body),
        WireFormat::Bedrock => bedrock::decode_response(body),
        WireFormat::Cohere => cohere::decode_response(body),
    }
}

/// A decoder for a provider's stream; `model` names the answer when the provider's stream does not.
pub fn stream_decoder(wire: WireFormat, model: &str) -> Box<dyn StreamDecode> {
    match wire {
        WireFormat::OpenAi => Box::new(openai::StreamDecoder::new()),
        WireFormat::Anthropic => Box::new(anthropic::StreamDecoder::new()),
        WireFormat::Gemini => Box::new(gemini::StreamDecoder::new()),
        WireFormat::Bedrock => Box::new(bedrock::StreamDecoder::with_ids("", model)),
        WireFormat::Cohere => Box::new(cohere::StreamDecoder::with_model(model)),
    }
}

/// Reads a provider's error body.
pub fn decode_error(wire: WireFormat, status: u16, body: &[u8]) -> ProviderError {
    match wire {
        WireFormat::OpenAi => openai::decode_error(status, body),
        WireFormat::Anthropic => anthropic::decode_error(status, body),
        WireFormat::Gemini => gemini::decode_error(status, body),
        WireFormat::Bedrock => bedrock::decode_error(status, body),
        WireFormat::Cohere => cohere::decode_error(status, body),
    }
}
