"""The official OpenAI Python SDK against shardgate, with only `base_url` (and a dummy key) changed
(SPEC §5: "an OpenAI SDK with base_url=http://HOST:PORT/v1 works unchanged, streaming included").

The upstream is the project's mock provider, whose answers are deterministic: the reply text is
"mock reply from MODEL" followed by filler words, max(stream_chunks, 4) words in all, with MODEL the
model name the mock received; completion_tokens is that word count; prompt_tokens is a quarter of
the upstream request body's bytes; embeddings are seeded from the input bytes.
"""

from __future__ import annotations

import json
import math
import struct

import openai
import pytest

from conftest import (
    CALLER_KEY,
    CHAT_MODEL,
    EMBED_MODEL,
    MOCK_STREAM_CHUNKS,
    PROVIDER_KEY,
    PROVIDER_NAME,
    headers_of,
)

PREFIXED_CHAT = f"{PROVIDER_NAME}/{CHAT_MODEL}"
MESSAGES = [{"role": "user", "content": "Say hello to the Python end-to-end tests."}]

_FILLER = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"]


def mock_reply(model: str, chunks: int = MOCK_STREAM_CHUNKS) -> str:
    """The mock's reply text for `model` (loadtest/src/mock/text.rs)."""
    words = ["mock", "reply", "from", model]
    n = max(chunks, 4)
    words += [_FILLER[i % len(_FILLER)] for i in range(n - 4)]
    return " ".join(words[:n])


def mock_word_count(chunks: int = MOCK_STREAM_CHUNKS) -> int:
    return max(chunks, 4)


# --- the mock's deterministic embedding (loadtest/src/mock/formats/openai.rs) -------------------

_M64 = (1 << 64) - 1


def _fnv(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & _M64
    return h


def _mix(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def mock_embedding(text: str, dims: int) -> list[float]:
    seed = _fnv(text.encode())
    v = [(_mix(seed ^ _mix(j)) >> 40) / float(1 << 23) - 1.0 for j in range(dims)]
    norm = math.sqrt(sum(x * x for x in v))
    # The mock computes in f32; round through f32 like it does.
    return [struct.unpack("f", struct.pack("f", x / norm))[0] for x in v]


def only_request(upstream, path_suffix: str) -> dict:
    """The single request the mock received, checked to be a POST to `path_suffix`."""
    reqs = upstream.requests()
    assert len(reqs) == 1, f"expected exactly one upstream request, got {json.dumps(reqs, indent=1)}"
    rec = reqs[0]
    assert rec["method"] == "POST", rec
    assert rec["path"].split("?")[0].endswith(path_suffix), rec["path"]
    return rec


# --- chat completions --------------------------------------------------------------------------


@pytest.mark.parametrize("model", [PREFIXED_CHAT, CHAT_MODEL])
def test_chat_non_streaming(client, model):
    resp = client.chat.completions.create(model=model, messages=MESSAGES)

    assert resp.object == "chat.completion"
    assert resp.id.startswith("chatcmpl-"), resp.id
    # The model is what the upstream answered with: the provider prefix is stripped upstream.
    assert resp.model == CHAT_MODEL
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == mock_reply(CHAT_MODEL)
    assert resp.usage is not None
    assert resp.usage.completion_tokens == mock_word_count()
    assert resp.usage.prompt_tokens >= 1
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


def test_chat_streaming(client):
    stream = client.chat.completions.create(model=PREFIXED_CHAT, messages=MESSAGES, stream=True)
    chunks = list(stream)

    assert chunks, "stream yielded no chunks"
    for c in chunks:
        assert c.object == "chat.completion.chunk", c
        assert c.model == CHAT_MODEL, c
        assert c.usage is None, f"usage chunk without stream_options.include_usage: {c}"
    assert len({c.id for c in chunks}) == 1, "chunks of one stream carry different ids"

    # Every chunk has exactly one choice; the first delta carries the role.
    assert all(len(c.choices) == 1 for c in chunks), chunks
    assert chunks[0].choices[0].delta.role == "assistant"

    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == mock_reply(CHAT_MODEL)
    # Streamed in pieces, not as one blob.
    assert sum(1 for c in chunks if c.choices[0].delta.content) == MOCK_STREAM_CHUNKS

    finishes = [c.choices[0].finish_reason for c in chunks]
    assert finishes[-1] == "stop", finishes
    assert all(f is None for f in finishes[:-1]), finishes


def test_chat_streaming_include_usage(client):
    stream = client.chat.completions.create(
        model=PREFIXED_CHAT,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    assert len(chunks) >= 2, chunks
    last = chunks[-1]
    # The usage chunk comes last, with no choices (OpenAI's format).
    assert last.choices == [], last
    assert last.usage is not None, last
    assert last.usage.completion_tokens == mock_word_count()
    assert last.usage.prompt_tokens >= 1
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    # All other chunks carry `usage: null`.
    assert all(c.usage is None for c in chunks[:-1]), chunks[:-1]

    content_chunks = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in content_chunks) == mock_reply(
        CHAT_MODEL
    )
    assert content_chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_gateway_headers(client, stream):
    raw = client.chat.completions.with_raw_response.create(
        model=PREFIXED_CHAT, messages=MESSAGES, stream=stream
    )
    h = raw.headers

    assert raw.status_code == 200
    assert h.get("x-shardgate-provider") == PROVIDER_NAME
    assert h.get("x-shardgate-model") in (CHAT_MODEL, PREFIXED_CHAT), h.get("x-shardgate-model")
    assert h.get("x-shardgate-attempts") == "1"
    # No [cache] section: the cache is off.
    assert h.get("x-shardgate-cache") == "off"
    rid = h.get("x-request-id")
    assert rid and rid.strip() == rid, f"x-request-id: {rid!r}"
    if stream:
        assert h.get("content-type", "").startswith("text/event-stream"), h.get("content-type")

    # The parsed body still works after reading the headers.
    parsed = raw.parse()
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
    else:
        text = parsed.choices[0].message.content
    assert text == mock_reply(CHAT_MODEL)


def test_request_ids_unique_and_caller_id_echoed(client):
    ids = {
        client.chat.completions.with_raw_response.create(
            model=PREFIXED_CHAT, messages=MESSAGES
        ).headers.get("x-request-id")
        for _ in range(3)
    }
    assert None not in ids and len(ids) == 3, f"generated request ids not unique: {ids}"

    raw = client.chat.completions.with_raw_response.create(
        model=PREFIXED_CHAT,
        messages=MESSAGES,
        extra_headers={"x-request-id": "py-e2e-req-42"},
    )
    assert raw.headers.get("x-request-id") == "py-e2e-req-42"


def test_upstream_request_uses_provider_key_and_stripped_model(client, upstream):
    resp = client.chat.completions.create(model=PREFIXED_CHAT, messages=MESSAGES, temperature=0.25)
    assert resp.choices[0].message.content == mock_reply(CHAT_MODEL)

    rec = only_request(upstream, "/v1/chat/completions")
    headers = headers_of(rec)

    assert headers.get("authorization") == [f"Bearer {PROVIDER_KEY}"], headers.get("authorization")
    leaked = [(n, v) for n, v in rec["headers"] if CALLER_KEY in v]
    assert not leaked, f"caller's key forwarded upstream: {leaked}"

    body = json.loads(rec["body"])
    assert body["model"] == CHAT_MODEL
    # The rest of the request reaches the provider unchanged.
    assert body["messages"] == MESSAGES
    assert body["temperature"] == 0.25
    # The mock derives prompt_tokens from the body it received.
    assert resp.usage.prompt_tokens == max(len(rec["body"].encode()) // 4, 1)


def test_upstream_streaming_request(client, upstream):
    chunks = list(
        client.chat.completions.create(
            model=PREFIXED_CHAT,
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None

    rec = only_request(upstream, "/v1/chat/completions")
    assert headers_of(rec).get("authorization") == [f"Bearer {PROVIDER_KEY}"]
    body = json.loads(rec["body"])
    assert body["model"] == CHAT_MODEL
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


# --- embeddings, models, errors ----------------------------------------------------------------


def test_embeddings_default_base64(client, upstream):
    # The SDK asks for base64 unless told otherwise, and decodes it.
    inputs = ["hello shardgate", "a second input"]
    resp = client.embeddings.create(model=f"{PROVIDER_NAME}/{EMBED_MODEL}", input=inputs)

    assert resp.object == "list"
    assert resp.model == EMBED_MODEL
    assert [d.index for d in resp.data] == [0, 1]
    for d, text in zip(resp.data, inputs):
        assert d.embedding == pytest.approx(mock_embedding(text, 8), abs=1e-6)
    assert resp.usage.prompt_tokens >= 1
    assert resp.usage.total_tokens == resp.usage.prompt_tokens

    rec = only_request(upstream, "/v1/embeddings")
    assert headers_of(rec).get("authorization") == [f"Bearer {PROVIDER_KEY}"]
    body = json.loads(rec["body"])
    assert body["model"] == EMBED_MODEL
    assert body["input"] == inputs
    assert body["encoding_format"] == "base64"


def test_embeddings_float_with_dimensions(client):
    resp = client.embeddings.create(
        model=EMBED_MODEL, input="dimension check", dimensions=16, encoding_format="float"
    )
    assert len(resp.data) == 1
    vec = resp.data[0].embedding
    assert len(vec) == 16
    assert vec == pytest.approx(mock_embedding("dimension check", 16), abs=1e-6)
    assert math.isclose(math.sqrt(sum(x * x for x in vec)), 1.0, abs_tol=1e-5)


def test_models_list(client):
    models = list(client.models.list())
    ids = [m.id for m in models]

    assert f"{PROVIDER_NAME}/{CHAT_MODEL}" in ids or CHAT_MODEL in ids, ids
    assert f"{PROVIDER_NAME}/{EMBED_MODEL}" in ids or EMBED_MODEL in ids, ids
    assert len(ids) == len(set(ids)), f"duplicate model ids: {ids}"
    for m in models:
        assert m.object == "model", m
        assert isinstance(m.owned_by, str) and m.owned_by, m


@pytest.mark.parametrize("model", ["nosuchprovider/gpt-4o-mini", "no-such-model-xyz"])
def test_unknown_model_is_not_found(client, upstream, model):
    with pytest.raises(openai.NotFoundError) as exc_info:
        client.chat.completions.create(model=model, messages=MESSAGES)
    err = exc_info.value

    assert err.status_code == 404
    assert err.code == "model_not_found", err.body
    assert err.type == "invalid_request_error", err.body
    assert isinstance(err.body, dict) and model in err.body.get("message", ""), err.body
    assert err.response.headers.get("x-request-id"), dict(err.response.headers)
    # Nothing reached the provider.
    assert upstream.requests() == []


def test_unknown_model_streaming_is_not_found(client, upstream):
    with pytest.raises(openai.NotFoundError) as exc_info:
        client.chat.completions.create(model="no-such-model-xyz", messages=MESSAGES, stream=True)
    assert exc_info.value.code == "model_not_found", exc_info.value.body
    assert upstream.requests() == []
