"""The official OpenAI, Anthropic and google-genai SDKs against shardgate, each reaching an OpenAI,
an Anthropic and a Gemini provider (SPEC §5: "any route reaches any provider"), with only the SDK's
base URL (and a dummy key) changed.

All three providers point at the one mock (`loadtest mock`), which answers each in its own format
and deterministically (loadtest/src/mock/):
- text: "mock reply from MODEL" plus filler words, `max(stream_chunks, 4)` words in all, MODEL being
  the model the mock received (the JSON `model`, or the model in a Gemini path); streamed in
  `stream_chunks` pieces;
- when the request offers tools (and tool choice is not "none"): a call of the first tool with
  arguments TOOL_ARGS (streamed in the two pieces of TOOL_ARG_PIECES), 12 completion tokens;
- prompt tokens: a quarter of the upstream request body's bytes (at least 1); count_tokens answers
  the same number.
Every request the mock received is recorded (GET /_mock/requests), so each test also checks the
NATIVE request the gateway sent upstream: path, authentication, body shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
import pytest
from google.genai import errors as genai_errors
from google.genai import types

from conftest import (
    ANTHROPIC_VERSION,
    CALLER_KEY,
    MATRIX_PROVIDERS,
    MOCK_STREAM_CHUNKS,
    MatrixProvider,
    headers_of,
    make_anthropic_client,
    make_genai_client,
    make_openai_client,
)

# --- what the mock answers (loadtest/src/mock/text.rs, formats/mod.rs) -------------------------

_FILLER = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"]
TOOL_ARGS = {"location": "Paris"}
TOOL_TOKENS = 12


def mock_reply(model: str, chunks: int = MOCK_STREAM_CHUNKS) -> str:
    words = ["mock", "reply", "from", model]
    n = max(chunks, 4)
    words += [_FILLER[i % len(_FILLER)] for i in range(n - 4)]
    return " ".join(words[:n])


def mock_completion_tokens(tool: bool) -> int:
    return TOOL_TOKENS if tool else max(MOCK_STREAM_CHUNKS, 4)


def mock_prompt_tokens(rec: dict[str, Any]) -> int:
    """The prompt tokens the mock reported for the request it recorded as `rec`."""
    return max(len(rec["body"].encode()) // 4, 1)


# --- the requests --------------------------------------------------------------------------

PROMPT = "What is the weather in Paris today?"
TOOL_NAME = "get_weather"
TOOL_DESCRIPTION = "Current weather for a city."
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string", "description": "City name"}},
    "required": ["location"],
}
TOOL_RESULT = "18 degrees and sunny"

OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": TOOL_NAME,
            "description": TOOL_DESCRIPTION,
            "parameters": WEATHER_SCHEMA,
        },
    }
]
ANTHROPIC_TOOLS = [
    {"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "input_schema": WEATHER_SCHEMA}
]
# google-genai's own (OpenAPI-style) schema, what most google-genai code writes.
GENAI_TOOLS = [
    types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name=TOOL_NAME,
                description=TOOL_DESCRIPTION,
                parameters=types.Schema(
                    type=types.Type.OBJECT,
                    properties={
                        "location": types.Schema(type=types.Type.STRING, description="City name")
                    },
                    required=["location"],
                ),
            )
        ]
    )
]

PROVIDERS = list(MATRIX_PROVIDERS.values())
PROVIDER_IDS = [p.name for p in PROVIDERS]
SDKS = ["openai", "anthropic", "genai"]


# --- the upstream request --------------------------------------------------------------------


def only_request(upstream) -> dict[str, Any]:
    reqs = upstream.requests()
    assert (
        len(reqs) == 1
    ), f"expected exactly one upstream request, got {json.dumps(reqs, indent=1)}"
    rec = reqs[0]
    assert rec["method"] == "POST", rec
    return rec


def no_caller_key(rec: dict[str, Any]) -> None:
    leaked = [(n, v) for n, v in rec["headers"] if CALLER_KEY in v]
    assert not leaked, f"caller's key forwarded upstream: {leaked}"
    assert CALLER_KEY not in rec["path"], rec["path"]


def expected_path(p: MatrixProvider, stream: bool, count_tokens: bool = False) -> str:
    if p.kind == "openai":
        return "/v1/chat/completions"
    if p.kind == "anthropic":
        return "/v1/messages/count_tokens" if count_tokens else "/v1/messages"
    if count_tokens:
        return f"/v1beta/models/{p.model}:countTokens"
    if stream:
        return f"/v1beta/models/{p.model}:streamGenerateContent?alt=sse"
    return f"/v1beta/models/{p.model}:generateContent"


def check_auth(p: MatrixProvider, rec: dict[str, Any]) -> None:
    h = headers_of(rec)
    no_caller_key(rec)
    if p.kind == "openai":
        assert h.get("authorization") == [f"Bearer {p.key}"], h
        assert "x-api-key" not in h and "x-goog-api-key" not in h, h
    elif p.kind == "anthropic":
        assert h.get("x-api-key") == [p.key], h
        assert h.get("anthropic-version") == [ANTHROPIC_VERSION], h
        assert "authorization" not in h and "x-goog-api-key" not in h, h
    else:
        assert h.get("x-goog-api-key") == [p.key], h
        assert "authorization" not in h and "x-api-key" not in h, h


def texts_in(content: Any) -> list[str]:
    """The text pieces of an OpenAI/Anthropic message content (a string or a list of parts)."""
    if isinstance(content, str):
        return [content]
    out = []
    for part in content or []:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            out.append(part["text"])
    return out


def check_schema(schema: dict[str, Any], case_insensitive: bool = False) -> None:
    """The weather tool's parameter schema, as JSON Schema (Gemini passthrough keeps the SDK's
    upper-case OpenAPI types)."""
    norm = (lambda s: s.lower()) if case_insensitive else (lambda s: s)
    assert norm(schema.get("type", "")) == "object", schema
    loc = schema.get("properties", {}).get("location", {})
    assert norm(loc.get("type", "")) == "string", schema
    assert schema.get("required") == ["location"], schema


def gemini_decl_schema(decl: dict[str, Any]) -> dict[str, Any]:
    s = decl.get("parametersJsonSchema", decl.get("parameters_json_schema"))
    if s is None:
        s = decl.get("parameters")
    assert isinstance(s, dict), f"function declaration without a schema: {decl}"
    return s


def check_native_request(
    p: MatrixProvider, rec: dict[str, Any], *, stream: bool, tools: bool
) -> dict[str, Any]:
    """Checks the request the mock recorded is `p`'s native chat request; returns its body."""
    assert rec["path"] == expected_path(p, stream), rec["path"]
    check_auth(p, rec)
    body = json.loads(rec["body"])
    if p.kind == "openai":
        assert body["model"] == p.model, body
        msgs = body["messages"]
        assert isinstance(msgs, list) and msgs, body
        assert msgs[-1]["role"] == "user", msgs
        assert PROMPT in "".join(texts_in(msgs[-1]["content"])), msgs
        assert bool(body.get("stream")) is stream, body
        if tools:
            assert body["tools"][0]["type"] == "function", body["tools"]
            fn = body["tools"][0]["function"]
            assert fn["name"] == TOOL_NAME, fn
            check_schema(fn["parameters"])
        else:
            assert not body.get("tools"), body
    elif p.kind == "anthropic":
        assert body["model"] == p.model, body
        assert isinstance(body.get("max_tokens"), int) and body["max_tokens"] > 0, body
        msgs = body["messages"]
        assert isinstance(msgs, list) and msgs, body
        assert msgs[-1]["role"] == "user", msgs
        assert PROMPT in "".join(texts_in(msgs[-1]["content"])), msgs
        assert bool(body.get("stream")) is stream, body
        if tools:
            t = body["tools"][0]
            assert t["name"] == TOOL_NAME, t
            assert "function" not in t and t.get("type") in (None, "custom"), t
            check_schema(t["input_schema"])
        else:
            assert not body.get("tools"), body
    else:
        assert "model" not in body, f"Gemini takes the model in the path, not the body: {body}"
        assert "stream" not in body, body
        contents = body["contents"]
        assert isinstance(contents, list) and contents, body
        assert contents[-1]["role"] == "user", contents
        assert PROMPT in "".join(pt.get("text", "") for pt in contents[-1]["parts"]), contents
        if tools:
            decls = body["tools"][0]["functionDeclarations"]
            assert decls[0]["name"] == TOOL_NAME, decls
            check_schema(gemini_decl_schema(decls[0]), case_insensitive=True)
        else:
            assert not body.get("tools"), body
    return body


# --- one chat turn through each SDK, normalised ------------------------------------------------


@dataclass
class Answer:
    """What an SDK parsed: text, tool calls (name, parsed arguments), the stop/finish reason in
    the SDK's own terms, token counts, and the model the answer names."""

    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    tool_ids: list[str] = field(default_factory=list)
    stop: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    model: str | None = None
    text_pieces: int = 0


def _enum_str(v: Any) -> str | None:
    if v is None:
        return None
    return getattr(v, "value", v)


def openai_chat(client, model: str, *, stream: bool, tools: bool) -> Answer:
    kw: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    if tools:
        kw["tools"] = OPENAI_TOOLS
    a = Answer()
    if not stream:
        resp = client.chat.completions.create(**kw)
        assert resp.object == "chat.completion", resp
        assert len(resp.choices) == 1, resp
        ch = resp.choices[0]
        assert ch.message.role == "assistant", ch
        a.text = ch.message.content or ""
        for tc in ch.message.tool_calls or []:
            assert tc.type == "function", tc
            a.tool_calls.append((tc.function.name, json.loads(tc.function.arguments)))
            a.tool_ids.append(tc.id)
        a.stop = ch.finish_reason
        assert resp.usage is not None, resp
        a.input_tokens = resp.usage.prompt_tokens
        a.output_tokens = resp.usage.completion_tokens
        a.total_tokens = resp.usage.total_tokens
        a.model = resp.model
        return a
    chunks = list(
        client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True})
    )
    assert chunks, "stream yielded no chunks"
    assert all(c.object == "chat.completion.chunk" for c in chunks), chunks
    assert len({c.id for c in chunks}) == 1, "chunks of one stream carry different ids"
    with_choices = [c for c in chunks if c.choices]
    assert with_choices, chunks
    assert with_choices[0].choices[0].delta.role == "assistant", with_choices[0]
    calls: dict[int, dict[str, Any]] = {}
    finishes = []
    for c in with_choices:
        d = c.choices[0].delta
        if d.content:
            a.text += d.content
            a.text_pieces += 1
        for tc in d.tool_calls or []:
            slot = calls.setdefault(tc.index, {"id": None, "name": "", "args": ""})
            if tc.id:
                slot["id"] = tc.id
            if tc.function and tc.function.name:
                slot["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                slot["args"] += tc.function.arguments
        finishes.append(c.choices[0].finish_reason)
    assert finishes[-1] is not None and all(f is None for f in finishes[:-1]), finishes
    a.stop = finishes[-1]
    for i in sorted(calls):
        a.tool_calls.append((calls[i]["name"], json.loads(calls[i]["args"])))
        a.tool_ids.append(calls[i]["id"])
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None, f"no final usage chunk: {last}"
    assert all(c.usage is None for c in chunks[:-1]), chunks[:-1]
    a.input_tokens = last.usage.prompt_tokens
    a.output_tokens = last.usage.completion_tokens
    a.total_tokens = last.usage.total_tokens
    a.model = chunks[0].model
    return a


def anthropic_chat(client, model: str, *, stream: bool, tools: bool) -> Answer:
    kw: dict[str, Any] = {
        "model": model,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    if tools:
        kw["tools"] = ANTHROPIC_TOOLS
    a = Answer()
    if not stream:
        msg = client.messages.create(**kw)
    else:
        kinds = []
        with client.messages.stream(**kw) as s:
            for ev in s:
                kinds.append(ev.type)
                if ev.type == "content_block_delta" and ev.delta.type == "text_delta":
                    a.text_pieces += 1
            msg = s.get_final_message()
        raw = [
            k
            for k in kinds
            if k
            in (
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            )
        ]
        assert raw[0] == "message_start" and raw[-2:] == ["message_delta", "message_stop"], kinds
    assert msg.type == "message" and msg.role == "assistant", msg
    for block in msg.content:
        if block.type == "text":
            a.text += block.text
        elif block.type == "tool_use":
            assert isinstance(block.input, dict), block
            a.tool_calls.append((block.name, block.input))
            a.tool_ids.append(block.id)
        else:
            pytest.fail(f"unexpected content block {block}")
    a.stop = msg.stop_reason
    assert msg.usage is not None, msg
    a.input_tokens = (
        msg.usage.input_tokens
        + (msg.usage.cache_read_input_tokens or 0)
        + (msg.usage.cache_creation_input_tokens or 0)
    )
    a.output_tokens = msg.usage.output_tokens
    a.total_tokens = a.input_tokens + a.output_tokens
    a.model = msg.model
    return a


def _genai_parts(resp) -> list:
    out = []
    for cand in resp.candidates or []:
        if cand.content and cand.content.parts:
            out.extend(cand.content.parts)
    return out


def genai_chat(client, model: str, *, stream: bool, tools: bool) -> Answer:
    config = types.GenerateContentConfig(
        tools=GENAI_TOOLS if tools else None,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    a = Answer()
    if not stream:
        responses = [client.models.generate_content(model=model, contents=PROMPT, config=config)]
    else:
        responses = list(
            client.models.generate_content_stream(model=model, contents=PROMPT, config=config)
        )
        assert responses, "stream yielded no chunks"
    finishes = []
    for r in responses:
        if not r.candidates:
            # Only a usage chunk may come without a candidate.
            assert r.usage_metadata is not None, r
            continue
        assert len(r.candidates) == 1, r
        for part in _genai_parts(r):
            if part.text:
                a.text += part.text
                a.text_pieces += 1
            if part.function_call:
                fc = part.function_call
                a.tool_calls.append((fc.name, dict(fc.args or {})))
                a.tool_ids.append(fc.id)
        finishes.append(_enum_str(r.candidates[0].finish_reason))
    assert finishes and finishes[-1] is not None, finishes
    assert all(f is None for f in finishes[:-1]), finishes
    a.stop = finishes[-1]
    with_usage = [r for r in responses if r.usage_metadata is not None]
    assert with_usage, responses
    last = with_usage[-1]
    um = last.usage_metadata
    a.input_tokens = um.prompt_token_count
    a.output_tokens = (um.candidates_token_count or 0) + (um.thoughts_token_count or 0)
    a.total_tokens = um.total_token_count
    a.model = last.model_version
    return a


CHAT = {"openai": openai_chat, "anthropic": anthropic_chat, "genai": genai_chat}
STOP = {
    # sdk: (after text, after a tool call)
    "openai": ("stop", "tool_calls"),
    "anthropic": ("end_turn", "tool_use"),
    "genai": ("STOP", "STOP"),
}


@pytest.fixture
def sdk_client(openai_client, anthropic_client, genai_client):
    return {"openai": openai_client, "anthropic": anthropic_client, "genai": genai_client}


# --- the matrix: SDK × provider × streaming × text/tool ------------------------------------------


@pytest.mark.parametrize("kind", ["text", "tool"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", PROVIDERS, ids=PROVIDER_IDS)
@pytest.mark.parametrize("sdk", SDKS)
def test_matrix(sdk, provider, stream, kind, sdk_client, upstream):
    tools = kind == "tool"
    answer = CHAT[sdk](sdk_client[sdk], provider.prefixed, stream=stream, tools=tools)

    # The upstream request: one, in the provider's own format.
    rec = only_request(upstream)
    check_native_request(provider, rec, stream=stream, tools=tools)

    # The answer, parsed by the SDK.
    if tools:
        assert answer.tool_calls == [(TOOL_NAME, TOOL_ARGS)], answer
        if sdk != "genai":
            # Gemini's function calls need no id (the mock's native answer has none).
            assert answer.tool_ids[0], f"tool call without an id: {answer}"
        assert answer.text == "", answer
        assert answer.stop == STOP[sdk][1], answer
    else:
        assert answer.tool_calls == [], answer
        assert answer.text == mock_reply(provider.model), answer
        assert answer.stop == STOP[sdk][0], answer
        if stream:
            assert answer.text_pieces >= 2, f"streamed as one blob: {answer}"
    # Usage: what the mock reported, whatever the format.
    assert answer.input_tokens == mock_prompt_tokens(rec), (answer, len(rec["body"]))
    assert answer.output_tokens == mock_completion_tokens(tools), answer
    assert answer.total_tokens == answer.input_tokens + answer.output_tokens, answer
    if answer.model is not None and sdk != "genai":
        assert answer.model in (provider.model, provider.prefixed), answer


@pytest.mark.parametrize("provider", PROVIDERS, ids=PROVIDER_IDS)
@pytest.mark.parametrize("sdk", SDKS)
def test_streamed_equals_non_streamed(sdk, provider, sdk_client, upstream):
    plain = CHAT[sdk](sdk_client[sdk], provider.prefixed, stream=False, tools=False)
    streamed = CHAT[sdk](sdk_client[sdk], provider.prefixed, stream=True, tools=False)
    assert streamed.text == plain.text
    assert streamed.stop == plain.stop
    assert streamed.output_tokens == plain.output_tokens


@pytest.mark.parametrize("provider", PROVIDERS, ids=PROVIDER_IDS)
@pytest.mark.parametrize("sdk", SDKS)
def test_response_headers(sdk, provider, sdk_client, upstream):
    """Every answer names the provider and model, the attempts and the cache state, and has a
    request id (SPEC §5), on every inbound route."""
    c = sdk_client[sdk]
    if sdk == "openai":
        h = c.chat.completions.with_raw_response.create(
            model=provider.prefixed, messages=[{"role": "user", "content": PROMPT}]
        ).headers
    elif sdk == "anthropic":
        h = c.messages.with_raw_response.create(
            model=provider.prefixed,
            max_tokens=64,
            messages=[{"role": "user", "content": PROMPT}],
        ).headers
    else:
        resp = c.models.generate_content(model=provider.prefixed, contents=PROMPT)
        assert resp.sdk_http_response is not None
        h = {k.lower(): v for k, v in (resp.sdk_http_response.headers or {}).items()}
    assert h.get("x-shardgate-provider") == provider.name, dict(h)
    assert h.get("x-shardgate-model") in (provider.model, provider.prefixed), dict(h)
    assert h.get("x-shardgate-attempts") == "1", dict(h)
    assert h.get("x-shardgate-cache") == "off", dict(h)
    assert h.get("x-request-id"), dict(h)
    check_native_request(provider, only_request(upstream), stream=False, tools=False)


def test_genai_api_version_v1(matrix_gateway, upstream):
    """google-genai with `api_version="v1"` reaches the gateway under `/genai/v1/`."""
    p = MATRIX_PROVIDERS["anthropic"]
    c = make_genai_client(matrix_gateway, api_version="v1")
    try:
        resp = c.models.generate_content(model=p.prefixed, contents=PROMPT)
    finally:
        c.close()
    assert resp.text == mock_reply(p.model)
    check_native_request(p, only_request(upstream), stream=False, tools=False)


# --- the OpenAI SDK's Responses API and legacy completions against Anthropic and Gemini models ---

TRANSLATED_FOR_OPENAI_SDK = [MATRIX_PROVIDERS["anthropic"], MATRIX_PROVIDERS["gemini"]]
T_IDS = [p.name for p in TRANSLATED_FOR_OPENAI_SDK]


def _max_output(p: MatrixProvider, body: dict[str, Any]) -> Any:
    if p.kind == "anthropic":
        return body.get("max_tokens")
    return (body.get("generationConfig") or {}).get("maxOutputTokens")


@pytest.mark.parametrize("tools", [False, True], ids=["text", "tool"])
@pytest.mark.parametrize("provider", TRANSLATED_FOR_OPENAI_SDK, ids=T_IDS)
def test_openai_responses(openai_client, upstream, provider, tools):
    kw: dict[str, Any] = {"model": provider.prefixed, "input": PROMPT, "max_output_tokens": 99}
    if tools:
        kw["tools"] = [
            {
                "type": "function",
                "name": TOOL_NAME,
                "description": TOOL_DESCRIPTION,
                "parameters": WEATHER_SCHEMA,
                "strict": False,
            }
        ]
    resp = openai_client.responses.create(**kw)

    rec = only_request(upstream)
    body = check_native_request(provider, rec, stream=False, tools=tools)
    assert _max_output(provider, body) == 99, body

    assert resp.object == "response", resp
    assert resp.status == "completed", resp
    if tools:
        calls = [o for o in resp.output if o.type == "function_call"]
        assert len(calls) == 1, resp.output
        assert calls[0].name == TOOL_NAME
        assert json.loads(calls[0].arguments) == TOOL_ARGS
        assert calls[0].call_id, calls[0]
        assert resp.output_text == "", resp
    else:
        assert resp.output_text == mock_reply(provider.model), resp
    assert resp.usage is not None, resp
    assert resp.usage.input_tokens == mock_prompt_tokens(rec)
    assert resp.usage.output_tokens == mock_completion_tokens(tools)
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens


@pytest.mark.parametrize("provider", TRANSLATED_FOR_OPENAI_SDK, ids=T_IDS)
def test_openai_responses_streaming(openai_client, upstream, provider):
    events = list(
        openai_client.responses.create(model=provider.prefixed, input=PROMPT, stream=True)
    )

    rec = only_request(upstream)
    check_native_request(provider, rec, stream=True, tools=False)

    reply = mock_reply(provider.model)
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created", kinds
    assert kinds[-1] == "response.completed", kinds
    seqs = [e.sequence_number for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) >= 2, kinds
    assert "".join(deltas) == reply
    done = [e for e in events if e.type == "response.output_text.done"]
    assert len(done) == 1 and done[0].text == reply, kinds
    final = events[-1].response
    assert final.status == "completed"
    assert final.output_text == reply
    assert final.usage is not None and final.usage.output_tokens == mock_completion_tokens(False)
    assert final.usage.input_tokens == mock_prompt_tokens(rec)


def test_openai_responses_streaming_tool_call(openai_client, upstream):
    provider = MATRIX_PROVIDERS["anthropic"]
    events = list(
        openai_client.responses.create(
            model=provider.prefixed,
            input=PROMPT,
            stream=True,
            tools=[
                {
                    "type": "function",
                    "name": TOOL_NAME,
                    "parameters": WEATHER_SCHEMA,
                    "strict": False,
                }
            ],
        )
    )
    check_native_request(provider, only_request(upstream), stream=True, tools=True)
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(args) == TOOL_ARGS, [e.type for e in events]
    final = events[-1].response
    assert events[-1].type == "response.completed"
    calls = [o for o in final.output if o.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [(TOOL_NAME, TOOL_ARGS)]


@pytest.mark.parametrize("provider", TRANSLATED_FOR_OPENAI_SDK, ids=T_IDS)
def test_openai_legacy_completions(openai_client, upstream, provider):
    resp = openai_client.completions.create(model=provider.prefixed, prompt=PROMPT, max_tokens=64)

    rec = only_request(upstream)
    body = check_native_request(provider, rec, stream=False, tools=False)
    assert _max_output(provider, body) == 64, body

    assert resp.object == "text_completion", resp
    assert len(resp.choices) == 1
    assert resp.choices[0].text == mock_reply(provider.model)
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == mock_prompt_tokens(rec)
    assert resp.usage.completion_tokens == mock_completion_tokens(False)
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


@pytest.mark.parametrize("provider", TRANSLATED_FOR_OPENAI_SDK, ids=T_IDS)
def test_openai_legacy_completions_streaming(openai_client, upstream, provider):
    chunks = list(
        openai_client.completions.create(
            model=provider.prefixed,
            prompt=PROMPT,
            max_tokens=64,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    rec = only_request(upstream)
    check_native_request(provider, rec, stream=True, tools=False)

    assert chunks and all(c.object == "text_completion" for c in chunks), chunks
    with_choices = [c for c in chunks if c.choices]
    text = "".join(c.choices[0].text for c in with_choices)
    assert text == mock_reply(provider.model)
    assert sum(1 for c in with_choices if c.choices[0].text) >= 2, "streamed as one blob"
    finishes = [c.choices[0].finish_reason for c in with_choices]
    assert finishes[-1] == "stop" and all(f is None for f in finishes[:-1]), finishes
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None, last
    assert last.usage.completion_tokens == mock_completion_tokens(False)
    assert last.usage.prompt_tokens == mock_prompt_tokens(rec)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("endpoint", ["responses", "completions"])
def test_openai_responses_and_completions_passthrough(openai_client, upstream, endpoint, stream):
    """To an OpenAI provider both go to its own endpoint, only the model spliced."""
    p = MATRIX_PROVIDERS["openai"]
    if endpoint == "responses":
        out = openai_client.responses.create(model=p.prefixed, input=PROMPT, stream=stream)
        text = (
            "".join(e.delta for e in out if e.type == "response.output_text.delta")
            if stream
            else out.output_text
        )
    else:
        out = openai_client.completions.create(model=p.prefixed, prompt=PROMPT, stream=stream)
        text = (
            "".join(c.choices[0].text for c in out if c.choices) if stream else out.choices[0].text
        )
    assert text == mock_reply(p.model)
    rec = only_request(upstream)
    assert rec["path"] == f"/v1/{endpoint}", rec["path"]
    check_auth(p, rec)
    body = json.loads(rec["body"])
    assert body["model"] == p.model, body
    assert body.get("input", body.get("prompt")) == PROMPT, body
    assert bool(body.get("stream")) is stream, body


# --- Anthropic count_tokens ----------------------------------------------------------------------


def test_anthropic_count_tokens_passthrough(anthropic_client, upstream):
    p = MATRIX_PROVIDERS["anthropic"]
    raw = anthropic_client.messages.with_raw_response.count_tokens(
        model=p.prefixed,
        messages=[{"role": "user", "content": PROMPT}],
        tools=ANTHROPIC_TOOLS,
    )
    resp = raw.parse()

    rec = only_request(upstream)
    assert rec["path"] == "/v1/messages/count_tokens", rec["path"]
    check_auth(p, rec)
    body = json.loads(rec["body"])
    assert body["model"] == p.model, body
    assert body["messages"][0]["role"] == "user", body
    assert body["tools"][0]["name"] == TOOL_NAME, body
    assert "max_tokens" not in body, body
    # The provider counted (passed through, not estimated).
    assert resp.input_tokens == mock_prompt_tokens(rec), (resp, rec["body"])
    assert raw.headers.get("x-shardgate-token-count") != "estimated", dict(raw.headers)
    assert raw.headers.get("x-shardgate-provider") == p.name, dict(raw.headers)


def test_anthropic_count_tokens_gemini(anthropic_client, upstream):
    p = MATRIX_PROVIDERS["gemini"]
    resp = anthropic_client.messages.count_tokens(
        model=p.prefixed, messages=[{"role": "user", "content": PROMPT}]
    )
    rec = only_request(upstream)
    assert rec["path"] == expected_path(p, False, count_tokens=True), rec["path"]
    check_auth(p, rec)
    body = json.loads(rec["body"])
    assert "contents" in body or "generateContentRequest" in body, body
    assert PROMPT in rec["body"], body
    assert resp.input_tokens == mock_prompt_tokens(rec), resp


def test_anthropic_count_tokens_estimated_for_openai(anthropic_client, upstream):
    p = MATRIX_PROVIDERS["openai"]
    raw = anthropic_client.messages.with_raw_response.count_tokens(
        model=p.prefixed,
        messages=[{"role": "user", "content": PROMPT}],
        system="You are terse.",
        tools=ANTHROPIC_TOOLS,
    )
    resp = raw.parse()
    # OpenAI cannot count: the gateway estimates, says so, and asks no one.
    assert isinstance(resp.input_tokens, int) and resp.input_tokens > 0, resp
    assert raw.headers.get("x-shardgate-token-count") == "estimated", dict(raw.headers)
    assert upstream.requests() == []


@pytest.mark.parametrize("provider", PROVIDERS, ids=PROVIDER_IDS)
def test_genai_count_tokens(genai_client, upstream, provider):
    """google-genai's count_tokens: Gemini and Anthropic providers count (each with its own
    endpoint), an OpenAI provider's count is estimated and says so."""
    resp = genai_client.models.count_tokens(model=provider.prefixed, contents=PROMPT)
    headers = {k.lower(): v for k, v in (resp.sdk_http_response.headers or {}).items()}
    assert isinstance(resp.total_tokens, int) and resp.total_tokens > 0, resp
    if provider.kind == "openai":
        assert headers.get("x-shardgate-token-count") == "estimated", headers
        assert upstream.requests() == []
        return
    rec = only_request(upstream)
    assert rec["path"] == expected_path(provider, False, count_tokens=True), rec["path"]
    check_auth(provider, rec)
    body = json.loads(rec["body"])
    if provider.kind == "anthropic":
        assert body["model"] == provider.model, body
        assert "max_tokens" not in body, body
        assert PROMPT in "".join(texts_in(body["messages"][0]["content"])), body
    else:
        assert PROMPT in rec["body"], body
    assert resp.total_tokens == mock_prompt_tokens(rec), resp
    assert headers.get("x-shardgate-token-count") != "estimated", headers


# --- upstream errors in each SDK's terms ----------------------------------------------------------

FAULT_BASE = {"openai": "gpt-4o-mini", "anthropic": "claude", "gemini": "gemini"}
FAIL429_MODEL = {name: f"{base}-fail429" for name, base in FAULT_BASE.items()}
# status: (OpenAI SDK error, Anthropic SDK error, Anthropic error type, google-genai error, its status)
UPSTREAM_ERRORS = {
    429: (
        openai.RateLimitError,
        anthropic.RateLimitError,
        "rate_limit_error",
        genai_errors.ClientError,
        "RESOURCE_EXHAUSTED",
    ),
    503: (
        openai.InternalServerError,
        anthropic.ServiceUnavailableError,
        "overloaded_error",
        genai_errors.ServerError,
        "UNAVAILABLE",
    ),
}


@pytest.mark.parametrize("status", sorted(UPSTREAM_ERRORS))
@pytest.mark.parametrize("provider", PROVIDERS, ids=PROVIDER_IDS)
@pytest.mark.parametrize("sdk", SDKS)
def test_upstream_error(sdk, provider, status, fresh_matrix_gateway, upstream):
    """A provider's 429 / 503 reaches each SDK as its own error class with that status (a fresh
    gateway per test, so that no key state carries over)."""
    model = f"{provider.name}/{FAULT_BASE[provider.name]}-fail{status}"
    oa_err, an_err, an_type, ge_err, ge_status = UPSTREAM_ERRORS[status]
    msgs = [{"role": "user", "content": PROMPT}]
    if sdk == "openai":
        c = make_openai_client(fresh_matrix_gateway)
        with pytest.raises(oa_err) as ei:
            c.chat.completions.create(model=model, messages=msgs)
        assert ei.value.status_code == status
        assert isinstance(ei.value.body, dict) and ei.value.body.get("message"), ei.value.body
        headers = ei.value.response.headers
    elif sdk == "anthropic":
        c = make_anthropic_client(fresh_matrix_gateway)
        with pytest.raises(an_err) as ei:
            c.messages.create(model=model, max_tokens=64, messages=msgs)
        assert ei.value.status_code == status
        body = ei.value.body
        assert isinstance(body, dict) and body.get("type") == "error", body
        assert body["error"]["type"] == an_type, body
        assert body["error"]["message"], body
        headers = ei.value.response.headers
    else:
        c = make_genai_client(fresh_matrix_gateway)
        with pytest.raises(ge_err) as ei:
            c.models.generate_content(model=model, contents=PROMPT)
        assert ei.value.code == status, ei.value
        assert ei.value.status == ge_status, ei.value.details
        assert ei.value.message, ei.value.details
        headers = ei.value.response.headers
    c.close()
    if status == 429:
        assert headers.get("retry-after"), dict(headers)
    assert headers.get("x-request-id"), dict(headers)

    # The request did reach the provider, in its format.
    reqs = upstream.requests()
    assert reqs, "nothing reached the provider"
    for rec in reqs:
        check_auth(provider, rec)
        if provider.kind == "gemini":
            assert rec["path"] == f"/v1beta/models/gemini-fail{status}:generateContent", rec["path"]
        else:
            assert rec["path"] == expected_path(provider, False), rec["path"]


@pytest.mark.parametrize("provider", PROVIDERS, ids=PROVIDER_IDS)
@pytest.mark.parametrize("sdk", SDKS)
def test_upstream_connection_closed(sdk, provider, fresh_matrix_gateway, upstream):
    """The provider closes the connection without answering: a 502 in the caller's format."""
    model = f"{provider.name}/{FAULT_BASE[provider.name]}-reset"
    msgs = [{"role": "user", "content": PROMPT}]
    if sdk == "openai":
        c = make_openai_client(fresh_matrix_gateway)
        with pytest.raises(openai.InternalServerError) as ei:
            c.chat.completions.create(model=model, messages=msgs)
        assert ei.value.status_code == 502
    elif sdk == "anthropic":
        c = make_anthropic_client(fresh_matrix_gateway)
        with pytest.raises(anthropic.InternalServerError) as ei:
            c.messages.create(model=model, max_tokens=64, messages=msgs)
        assert ei.value.status_code == 502
        assert ei.value.body["type"] == "error" and ei.value.body["error"]["message"], ei.value.body
    else:
        c = make_genai_client(fresh_matrix_gateway)
        with pytest.raises(genai_errors.ServerError) as ei:
            c.models.generate_content(model=model, contents=PROMPT)
        assert ei.value.code == 502
    c.close()
    assert upstream.requests(), "nothing reached the provider"


@pytest.mark.parametrize("sdk", SDKS)
def test_upstream_429_streaming(sdk, fresh_matrix_gateway, upstream):
    """A stream refused before it began is an error status, not an empty stream."""
    provider = MATRIX_PROVIDERS["anthropic"] if sdk != "anthropic" else MATRIX_PROVIDERS["openai"]
    model = f"{provider.name}/{FAIL429_MODEL[provider.name]}"
    msgs = [{"role": "user", "content": PROMPT}]
    if sdk == "openai":
        c = make_openai_client(fresh_matrix_gateway)
        with pytest.raises(openai.RateLimitError):
            list(c.chat.completions.create(model=model, messages=msgs, stream=True))
    elif sdk == "anthropic":
        c = make_anthropic_client(fresh_matrix_gateway)
        with pytest.raises(anthropic.RateLimitError):
            with c.messages.stream(model=model, max_tokens=64, messages=msgs) as s:
                s.get_final_message()
    else:
        c = make_genai_client(fresh_matrix_gateway)
        with pytest.raises(genai_errors.ClientError) as ei:
            list(c.models.generate_content_stream(model=model, contents=PROMPT))
        assert ei.value.code == 429
    c.close()
    assert upstream.requests(), "nothing reached the provider"


# --- multi-turn tool conversations across formats ------------------------------------------------


def test_anthropic_tool_turn_to_openai(anthropic_client, upstream):
    p = MATRIX_PROVIDERS["openai"]
    msg = anthropic_client.messages.create(
        model=p.prefixed,
        max_tokens=256,
        tools=ANTHROPIC_TOOLS,
        messages=[
            {"role": "user", "content": PROMPT},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_01A", "name": TOOL_NAME, "input": TOOL_ARGS},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01A", "content": TOOL_RESULT}
                ],
            },
        ],
    )
    # The mock calls the tool again (tools are offered); the SDK parses it.
    assert msg.stop_reason == "tool_use"
    assert [(b.name, b.input) for b in msg.content if b.type == "tool_use"] == [
        (TOOL_NAME, TOOL_ARGS)
    ]

    rec = only_request(upstream)
    assert rec["path"] == "/v1/chat/completions"
    check_auth(p, rec)
    body = json.loads(rec["body"])
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "tool"], body["messages"]
    asst = body["messages"][1]
    assert "Let me check." in "".join(texts_in(asst.get("content"))), asst
    assert len(asst["tool_calls"]) == 1, asst
    tc = asst["tool_calls"][0]
    assert tc["id"] == "toolu_01A" and tc["type"] == "function", tc
    assert tc["function"]["name"] == TOOL_NAME
    assert json.loads(tc["function"]["arguments"]) == TOOL_ARGS
    tool_msg = body["messages"][2]
    assert tool_msg["tool_call_id"] == "toolu_01A", tool_msg
    assert TOOL_RESULT in "".join(texts_in(tool_msg["content"])), tool_msg
    assert body["tools"][0]["function"]["name"] == TOOL_NAME


def test_openai_tool_turn_to_anthropic(openai_client, upstream):
    p = MATRIX_PROVIDERS["anthropic"]
    resp = openai_client.chat.completions.create(
        model=p.prefixed,
        tools=OPENAI_TOOLS,
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": PROMPT},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_w1",
                        "type": "function",
                        "function": {"name": TOOL_NAME, "arguments": json.dumps(TOOL_ARGS)},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_w1", "content": TOOL_RESULT},
        ],
    )
    assert resp.choices[0].finish_reason == "tool_calls"

    rec = only_request(upstream)
    assert rec["path"] == "/v1/messages"
    check_auth(p, rec)
    body = json.loads(rec["body"])
    sys_text = body.get("system")
    assert "You are terse." in (
        sys_text if isinstance(sys_text, str) else "".join(texts_in(sys_text))
    )
    msgs = body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"], msgs
    uses = [b for b in msgs[1]["content"] if b["type"] == "tool_use"]
    assert len(uses) == 1 and uses[0]["id"] == "call_w1", msgs[1]
    assert uses[0]["name"] == TOOL_NAME and uses[0]["input"] == TOOL_ARGS, uses
    results = [b for b in msgs[2]["content"] if b["type"] == "tool_result"]
    assert len(results) == 1 and results[0]["tool_use_id"] == "call_w1", msgs[2]
    assert TOOL_RESULT in json.dumps(results[0].get("content")), results
    assert body["tools"][0]["name"] == TOOL_NAME


def test_openai_tool_turn_to_gemini(openai_client, upstream):
    p = MATRIX_PROVIDERS["gemini"]
    resp = openai_client.chat.completions.create(
        model=p.prefixed,
        tools=OPENAI_TOOLS,
        tool_choice="none",
        messages=[
            {"role": "user", "content": PROMPT},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_g1",
                        "type": "function",
                        "function": {"name": TOOL_NAME, "arguments": json.dumps(TOOL_ARGS)},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_g1", "content": TOOL_RESULT},
        ],
    )
    # tool_choice "none" reaches Gemini as functionCallingConfig NONE: the mock answers text.
    assert resp.choices[0].finish_reason == "stop"
    assert resp.choices[0].message.content == mock_reply(p.model)

    rec = only_request(upstream)
    assert rec["path"] == f"/v1beta/models/{p.model}:generateContent"
    check_auth(p, rec)
    body = json.loads(rec["body"])
    contents = body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"], contents
    calls = [pt["functionCall"] for pt in contents[1]["parts"] if "functionCall" in pt]
    assert len(calls) == 1 and calls[0]["name"] == TOOL_NAME, contents[1]
    assert calls[0]["args"] == TOOL_ARGS, calls
    responses = [pt["functionResponse"] for pt in contents[2]["parts"] if "functionResponse" in pt]
    assert len(responses) == 1 and responses[0]["name"] == TOOL_NAME, contents[2]
    assert isinstance(responses[0]["response"], dict), responses
    assert TOOL_RESULT in json.dumps(responses[0]["response"]), responses
    if "id" in calls[0] or "id" in responses[0]:
        assert calls[0].get("id") == responses[0].get("id"), (calls, responses)
    # "none" is sent as Gemini's calling mode NONE (or the tools are left out altogether).
    if body.get("tools"):
        assert body["toolConfig"]["functionCallingConfig"]["mode"] == "NONE", body.get("toolConfig")


def test_genai_tool_turn_to_anthropic(genai_client, upstream):
    p = MATRIX_PROVIDERS["anthropic"]
    resp = genai_client.models.generate_content(
        model=p.prefixed,
        contents=[
            types.Content(role="user", parts=[types.Part.from_text(text=PROMPT)]),
            types.Content(
                role="model",
                parts=[types.Part.from_function_call(name=TOOL_NAME, args=TOOL_ARGS)],
            ),
            types.Content(
                role="user",
                parts=[
                    types.Part.from_function_response(
                        name=TOOL_NAME, response={"output": TOOL_RESULT}
                    )
                ],
            ),
        ],
        config=types.GenerateContentConfig(
            tools=GENAI_TOOLS,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        ),
    )
    assert [(fc.name, dict(fc.args)) for fc in resp.function_calls or []] == [
        (TOOL_NAME, TOOL_ARGS)
    ]
    assert _enum_str(resp.candidates[0].finish_reason) == "STOP"

    rec = only_request(upstream)
    assert rec["path"] == "/v1/messages"
    check_auth(p, rec)
    body = json.loads(rec["body"])
    msgs = body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"], msgs
    uses = [b for b in msgs[1]["content"] if b["type"] == "tool_use"]
    assert len(uses) == 1 and uses[0]["name"] == TOOL_NAME and uses[0]["input"] == TOOL_ARGS, msgs
    assert uses[0]["id"], uses
    results = [b for b in msgs[2]["content"] if b["type"] == "tool_result"]
    assert len(results) == 1, msgs[2]
    assert results[0]["tool_use_id"] == uses[0]["id"], (uses, results)
    assert TOOL_RESULT in json.dumps(results[0].get("content")), results
    check_schema(body["tools"][0]["input_schema"])


def test_genai_tool_turn_to_openai_streaming(genai_client, upstream):
    p = MATRIX_PROVIDERS["openai"]
    chunks = list(
        genai_client.models.generate_content_stream(
            model=p.prefixed,
            contents=[
                types.Content(role="user", parts=[types.Part.from_text(text=PROMPT)]),
                types.Content(
                    role="model",
                    parts=[types.Part.from_function_call(name=TOOL_NAME, args=TOOL_ARGS)],
                ),
                types.Content(
                    role="user",
                    parts=[
                        types.Part.from_function_response(
                            name=TOOL_NAME, response={"output": TOOL_RESULT}
                        )
                    ],
                ),
            ],
            config=types.GenerateContentConfig(
                tools=GENAI_TOOLS,
                automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            ),
        )
    )
    calls = [(fc.name, dict(fc.args)) for c in chunks for fc in (c.function_calls or [])]
    assert calls == [(TOOL_NAME, TOOL_ARGS)], chunks

    rec = only_request(upstream)
    assert rec["path"] == "/v1/chat/completions"
    check_auth(p, rec)
    body = json.loads(rec["body"])
    assert body["stream"] is True
    msgs = body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool"], msgs
    tc = msgs[1]["tool_calls"][0]
    assert tc["function"]["name"] == TOOL_NAME
    assert json.loads(tc["function"]["arguments"]) == TOOL_ARGS
    assert msgs[2]["tool_call_id"] == tc["id"], msgs
    assert TOOL_RESULT in "".join(texts_in(msgs[2]["content"])), msgs[2]
    check_schema(body["tools"][0]["function"]["parameters"])


# --- request settings and credentials in each provider's terms -----------------------------------

SYSTEM = "You are a terse weather assistant."


def _system_texts(p: MatrixProvider, body: dict[str, Any]) -> str:
    if p.kind == "openai":
        first = body["messages"][0]
        assert first["role"] in ("system", "developer"), body["messages"]
        return "".join(texts_in(first["content"]))
    if p.kind == "anthropic":
        s = body.get("system")
        return s if isinstance(s, str) else "".join(texts_in(s))
    si = body.get("systemInstruction") or {}
    return "".join(pt.get("text", "") for pt in si.get("parts", []))


@pytest.mark.parametrize("provider", PROVIDERS, ids=PROVIDER_IDS)
@pytest.mark.parametrize("sdk", SDKS)
def test_generation_settings(sdk, provider, sdk_client, upstream):
    """System instructions, the token limit, temperature and stop sequences reach each provider
    under its own names."""
    c = sdk_client[sdk]
    if sdk == "openai":
        resp = c.chat.completions.create(
            model=provider.prefixed,
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
            max_tokens=77,
            temperature=0.5,
            stop=["END"],
        )
        text = resp.choices[0].message.content
    elif sdk == "anthropic":
        msg = c.messages.create(
            model=provider.prefixed,
            system=SYSTEM,
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=77,
            stop_sequences=["END"],
            # This SDK version has no `temperature` argument; the API still takes the field.
            extra_body={"temperature": 0.5},
        )
        text = "".join(b.text for b in msg.content if b.type == "text")
    else:
        resp = c.models.generate_content(
            model=provider.prefixed,
            contents=PROMPT,
            config=types.GenerateContentConfig(
                system_instruction=SYSTEM,
                max_output_tokens=77,
                temperature=0.5,
                stop_sequences=["END"],
            ),
        )
        text = resp.text
    assert text == mock_reply(provider.model)

    rec = only_request(upstream)
    body = check_native_request(provider, rec, stream=False, tools=False)
    assert SYSTEM in _system_texts(provider, body), body
    if provider.kind == "openai":
        assert body.get("max_tokens", body.get("max_completion_tokens")) == 77, body
        assert body["temperature"] == 0.5, body
        assert body["stop"] in (["END"], "END"), body
        assert all(m["role"] not in ("system", "developer") for m in body["messages"][1:]), body
    elif provider.kind == "anthropic":
        assert body["max_tokens"] == 77, body
        assert body["temperature"] == 0.5, body
        assert body["stop_sequences"] == ["END"], body
    else:
        gc = body["generationConfig"]
        assert gc["maxOutputTokens"] == 77, body
        assert gc["temperature"] == 0.5, body
        assert gc["stopSequences"] == ["END"], body


@pytest.mark.parametrize("provider", PROVIDERS, ids=PROVIDER_IDS)
@pytest.mark.parametrize("sdk", SDKS)
def test_caller_credentials_never_forwarded(sdk, provider, sdk_client, upstream):
    """Whatever header the caller's key comes in (Authorization, x-api-key, x-goog-api-key), only
    the provider's own key goes upstream, in the provider's header."""
    extra = {
        "Authorization": f"Bearer {CALLER_KEY}",
        "x-api-key": CALLER_KEY,
        "x-goog-api-key": CALLER_KEY,
    }
    c = sdk_client[sdk]
    if sdk == "openai":
        c.chat.completions.create(
            model=provider.prefixed,
            messages=[{"role": "user", "content": PROMPT}],
            extra_headers=extra,
        )
    elif sdk == "anthropic":
        c.messages.create(
            model=provider.prefixed,
            max_tokens=64,
            messages=[{"role": "user", "content": PROMPT}],
            extra_headers=extra,
        )
    else:
        c.models.generate_content(
            model=provider.prefixed,
            contents=PROMPT,
            config=types.GenerateContentConfig(http_options=types.HttpOptions(headers=extra)),
        )
    rec = only_request(upstream)
    check_native_request(provider, rec, stream=False, tools=False)


@pytest.mark.parametrize("provider", PROVIDERS, ids=PROVIDER_IDS)
@pytest.mark.parametrize("sdk", SDKS)
def test_forced_tool_choice(sdk, provider, sdk_client, upstream):
    """A named tool the model must call reaches each provider in its own terms."""
    c = sdk_client[sdk]
    if sdk == "openai":
        resp = c.chat.completions.create(
            model=provider.prefixed,
            messages=[{"role": "user", "content": PROMPT}],
            tools=OPENAI_TOOLS,
            tool_choice={"type": "function", "function": {"name": TOOL_NAME}},
        )
        calls = [
            (t.function.name, json.loads(t.function.arguments))
            for t in resp.choices[0].message.tool_calls
        ]
    elif sdk == "anthropic":
        msg = c.messages.create(
            model=provider.prefixed,
            max_tokens=64,
            messages=[{"role": "user", "content": PROMPT}],
            tools=ANTHROPIC_TOOLS,
            tool_choice={"type": "tool", "name": TOOL_NAME},
        )
        calls = [(b.name, b.input) for b in msg.content if b.type == "tool_use"]
    else:
        resp = c.models.generate_content(
            model=provider.prefixed,
            contents=PROMPT,
            config=types.GenerateContentConfig(
                tools=GENAI_TOOLS,
                tool_config=types.ToolConfig(
                    function_calling_config=types.FunctionCallingConfig(
                        mode=types.FunctionCallingConfigMode.ANY,
                        allowed_function_names=[TOOL_NAME],
                    )
                ),
                automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            ),
        )
        calls = [(fc.name, dict(fc.args)) for fc in resp.function_calls or []]
    assert calls == [(TOOL_NAME, TOOL_ARGS)]

    rec = only_request(upstream)
    body = check_native_request(provider, rec, stream=False, tools=True)
    if provider.kind == "openai":
        assert body["tool_choice"] == {"type": "function", "function": {"name": TOOL_NAME}}, body
    elif provider.kind == "anthropic":
        tc = body["tool_choice"]
        assert tc["type"] == "tool" and tc["name"] == TOOL_NAME, body
    else:
        fcc = body["toolConfig"]["functionCallingConfig"]
        assert fcc["mode"] == "ANY" and fcc["allowedFunctionNames"] == [TOOL_NAME], body


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_genai_json_schema_parameters(provider, genai_client, upstream):
    """google-genai's `parameters_json_schema` (plain JSON Schema) reaches other providers as it
    is."""
    p = MATRIX_PROVIDERS[provider]
    resp = genai_client.models.generate_content(
        model=p.prefixed,
        contents=PROMPT,
        config=types.GenerateContentConfig(
            tools=[
                types.Tool(
                    function_declarations=[
                        types.FunctionDeclaration(
                            name=TOOL_NAME,
                            description=TOOL_DESCRIPTION,
                            parameters_json_schema=WEATHER_SCHEMA,
                        )
                    ]
                )
            ],
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        ),
    )
    assert [(fc.name, dict(fc.args)) for fc in resp.function_calls or []] == [
        (TOOL_NAME, TOOL_ARGS)
    ]
    body = check_native_request(p, only_request(upstream), stream=False, tools=True)
    schema = (
        body["tools"][0]["function"]["parameters"]
        if p.kind == "openai"
        else body["tools"][0]["input_schema"]
    )
    assert schema == WEATHER_SCHEMA, schema


# --- a stream the provider breaks off -------------------------------------------------------------

CUT_MODEL = {"openai": "gpt-4o-mini-cut", "anthropic": "claude-cut", "gemini": "gemini-cut"}


@pytest.mark.parametrize("provider", PROVIDERS, ids=PROVIDER_IDS)
@pytest.mark.parametrize("sdk", SDKS)
def test_stream_cut_by_provider_is_an_error(sdk, provider, sdk_client, upstream):
    """The mock drops the connection after two events: the caller's stream must end with an error
    its SDK raises, not look like a complete (if short) answer (SPEC §6)."""
    model = f"{provider.name}/{CUT_MODEL[provider.name]}"
    c = sdk_client[sdk]
    text = ""
    if sdk == "openai":
        with pytest.raises(openai.APIError) as ei:
            for chunk in c.chat.completions.create(
                model=model, messages=[{"role": "user", "content": PROMPT}], stream=True
            ):
                if chunk.choices:
                    assert chunk.choices[0].finish_reason is None, chunk
                    text += chunk.choices[0].delta.content or ""
    elif sdk == "anthropic":
        with pytest.raises(anthropic.APIError) as ei:
            with c.messages.stream(
                model=model, max_tokens=64, messages=[{"role": "user", "content": PROMPT}]
            ) as s:
                for ev in s:
                    assert ev.type != "message_stop", ev
                    if ev.type == "content_block_delta" and ev.delta.type == "text_delta":
                        text += ev.delta.text
    else:
        with pytest.raises(genai_errors.APIError) as ei:
            for chunk in c.models.generate_content_stream(model=model, contents=PROMPT):
                for part in _genai_parts(chunk):
                    text += part.text or ""
    assert ei.value is not None
    # What came before the break is a prefix of the answer.
    assert mock_reply(CUT_MODEL[provider.name]).startswith(text), text
    assert upstream.requests(), "nothing reached the provider"


def test_anthropic_parallel_tool_turn_to_gemini_streaming(anthropic_client, upstream):
    """Two tool calls in one assistant turn and their two results: Gemini gets one model turn with
    both functionCalls and one user turn with both functionResponses, in order, each named after
    its call (Anthropic results carry only the call's id)."""
    p = MATRIX_PROVIDERS["gemini"]
    with anthropic_client.messages.stream(
        model=p.prefixed,
        max_tokens=256,
        tools=ANTHROPIC_TOOLS,
        messages=[
            {"role": "user", "content": "Weather in Paris and in London?"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_P",
                        "name": TOOL_NAME,
                        "input": {"location": "Paris"},
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_L",
                        "name": TOOL_NAME,
                        "input": {"location": "London"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_P",
                        "content": "Paris: 18 degrees",
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_L",
                        "content": "London: 12 degrees",
                    },
                ],
            },
        ],
    ) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.name, b.input) for b in final.content if b.type == "tool_use"] == [
        (TOOL_NAME, TOOL_ARGS)
    ]

    rec = only_request(upstream)
    assert rec["path"] == f"/v1beta/models/{p.model}:streamGenerateContent?alt=sse"
    check_auth(p, rec)
    contents = json.loads(rec["body"])["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"], contents
    calls = [pt["functionCall"] for pt in contents[1]["parts"] if "functionCall" in pt]
    assert [(c["name"], c["args"]) for c in calls] == [
        (TOOL_NAME, {"location": "Paris"}),
        (TOOL_NAME, {"location": "London"}),
    ], contents[1]
    resps = [pt["functionResponse"] for pt in contents[2]["parts"] if "functionResponse" in pt]
    assert [r["name"] for r in resps] == [TOOL_NAME, TOOL_NAME], contents[2]
    assert "Paris: 18 degrees" in json.dumps(resps[0]["response"]), resps
    assert "London: 12 degrees" in json.dumps(resps[1]["response"]), resps
    if all("id" in c for c in calls):
        assert [r.get("id") for r in resps] == [c["id"] for c in calls], (calls, resps)
