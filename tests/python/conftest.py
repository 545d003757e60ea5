"""Fixtures for the Python end-to-end tests: the real `shardgate` binary in front of the project's
mock provider (`loadtest mock`), both on loopback with ports chosen by the kernel.

Binaries come from `SHARDGATE_BIN` / `LOADTEST_BIN`, by default `target/debug/shardgate` and
`target/debug/loadtest` under the repository root (two levels above this file). Build them with
`cargo build --workspace --bins`.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Seconds to wait for a `listening on` banner.
START_TIMEOUT_S = float(os.environ.get("SHARDGATE_TEST_START_TIMEOUT", "30"))
# Seconds to wait for a process to exit after SIGTERM before it is killed.
STOP_TIMEOUT_S = float(os.environ.get("SHARDGATE_TEST_STOP_TIMEOUT", "10"))

# What the mock is started with; the tests derive the expected reply text from it.
MOCK_STREAM_CHUNKS = 6

# The provider key the gateway is configured with, and the dummy key callers send.
PROVIDER_NAME = "mock"
PROVIDER_KEY = "sk-provider-key"
CALLER_KEY = "sk-caller-dummy-key-must-not-be-forwarded"
CHAT_MODEL = "gpt-4o-mini"
EMBED_MODEL = "text-embedding-3-small"

_BANNER = re.compile(r"listening on (\S+):(\d+)")


def _binary(env_var: str, name: str) -> Path:
    path = Path(os.environ.get(env_var) or REPO_ROOT / "target" / "debug" / name)
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"{name} binary not found at {path}: run `cargo build --workspace --bins` in "
            f"{REPO_ROOT} or set {env_var}",
            pytrace=False,
        )
    return path


class Process:
    """A child process whose stdout and stderr lines are collected, started and waited on until it
    prints `listening on HOST:PORT`."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None):
        self.name = name
        self.argv = argv
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._banners: queue.Queue[tuple[str, int]] = queue.Queue()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO_ROOT,
        )
        self._readers = [
            threading.Thread(target=self._read, args=(stream, tag), daemon=True)
            for stream, tag in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr"))
        ]
        for t in self._readers:
            t.start()
        self.host, self.port = self._wait_banner()

    def _read(self, stream: Any, tag: str) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._lock:
                self.lines.append(f"[{tag}] {line}")
            m = _BANNER.search(line)
            if m:
                self._banners.put((m.group(1), int(m.group(2))))
        stream.close()

    def output(self) -> str:
        with self._lock:
            return "\n".join(self.lines) or "(no output)"

    def _wait_banner(self) -> tuple[str, int]:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                return self._banners.get(timeout=0.05)
            except queue.Empty:
                pass
            code = self.proc.poll()
            if code is not None:
                for t in self._readers:
                    t.join(timeout=1)
                if not self._banners.empty():
                    return self._banners.get()
                self._fail(f"exited with status {code} before printing `listening on`")
            if time.monotonic() > deadline:
                self.stop()
                self._fail(f"printed no `listening on` banner within {START_TIMEOUT_S:.0f}s")

    def _fail(self, why: str) -> None:
        pytest.fail(
            f"{self.name} {why}\ncommand: {' '.join(self.argv)}\noutput:\n{self.output()}",
            pytrace=False,
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; returns the exit status."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT_S)
        for t in self._readers:
            t.join(timeout=2)
        return self.proc.returncode


class Mock(Process):
    """The mock provider, with its inspection endpoint."""

    def _call(self, method: str, path: str) -> Any:
        req = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def requests(self) -> list[dict[str, Any]]:
        """What the mock received since the last reset, oldest first (the inspection call excluded)."""
        return self._call("GET", "/_mock/requests")["requests"]

    def reset(self) -> None:
        self._call("DELETE", "/_mock/requests")


def headers_of(record: dict[str, Any]) -> dict[str, list[str]]:
    """A recorded request's headers as lower-cased name -> values."""
    out: dict[str, list[str]] = {}
    for name, value in record["headers"]:
        out.setdefault(name.lower(), []).append(value)
    return out


def gateway_config(mock_url: str) -> str:
    return f"""\
[server]
shards = 1

[[providers]]
name = "{PROVIDER_NAME}"
kind = "openai-compatible"
base_url = "{mock_url}/v1"
keys = ["{PROVIDER_KEY}"]
models = ["{CHAT_MODEL}", "{EMBED_MODEL}"]
"""


@pytest.fixture(scope="session")
def mock() -> Mock:
    binary = _binary("LOADTEST_BIN", "loadtest")
    p = Mock(
        "loadtest mock",
        [
            str(binary),
            "mock",
            "--listen",
            "127.0.0.1:0",
            "--stream-chunks",
            str(MOCK_STREAM_CHUNKS),
        ],
    )
    yield p
    p.stop()


def start_gateway(config_text: str, directory: Path) -> Process:
    """Writes `config_text` to `directory/shardgate.toml` and starts the gateway on it (loopback,
    kernel-chosen port)."""
    binary = _binary("SHARDGATE_BIN", "shardgate")
    config = directory / "shardgate.toml"
    config.write_text(config_text)
    p = Process(
        "shardgate",
        [str(binary), "--config", str(config), "--listen", "127.0.0.1:0"],
    )
    p.config_path = config
    return p


@pytest.fixture(scope="session")
def gateway(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Process:
    p = start_gateway(gateway_config(mock.url), tmp_path_factory.mktemp("shardgate"))
    yield p
    p.stop()


@pytest.fixture
def upstream(mock: Mock) -> Mock:
    """The mock, with its request record cleared for this test."""
    mock.reset()
    assert mock.requests() == [], "mock inspection record not empty after reset"
    return mock


@pytest.fixture
def client(gateway: Process):
    """The official OpenAI SDK with only its base URL (and a dummy key) changed; no retries, so a
    failing gateway shows as it is."""
    import openai

    c = openai.OpenAI(
        base_url=f"{gateway.url}/v1",
        api_key=CALLER_KEY,
        max_retries=0,
        timeout=30.0,
    )
    yield c
    c.close()


# --- the SDK matrix: one gateway with an OpenAI, an Anthropic and a Gemini provider, all three
# pointing at the one mock (which answers each in its own format) --------------------------------


class MatrixProvider:
    """One provider of the matrix gateway: its name (the model prefix), kind, the API root the
    mock is addressed under, its key, and the model the tests ask it for."""

    def __init__(self, name: str, kind: str, root: str, key: str, model: str):
        self.name = name
        self.kind = kind
        self.root = root
        self.key = key
        self.model = model

    @property
    def prefixed(self) -> str:
        return f"{self.name}/{self.model}"

    def __repr__(self) -> str:
        return self.name


MATRIX_PROVIDERS = {
    p.name: p
    for p in (
        MatrixProvider("openai", "openai", "/v1", "sk-provider-key", "gpt-4o-mini"),
        MatrixProvider("anthropic", "anthropic", "/v1", "sk-ant-provider", "claude-sonnet-4-5"),
        MatrixProvider("gemini", "gemini", "/v1beta", "gem-provider", "gemini-2.0-flash"),
    )
}
ANTHROPIC_VERSION = "2023-06-01"


def matrix_config(mock_url: str) -> str:
    out = "[server]\nshards = 1\n"
    for p in MATRIX_PROVIDERS.values():
        out += f"""
[[providers]]
name = "{p.name}"
kind = "{p.kind}"
base_url = "{mock_url}{p.root}"
api_key = "{p.key}"
"""
    return out


@pytest.fixture(scope="session")
def matrix_gateway(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Process:
    p = start_gateway(matrix_config(mock.url), tmp_path_factory.mktemp("shardgate-matrix"))
    yield p
    p.stop()


@pytest.fixture
def fresh_matrix_gateway(mock: Mock, tmp_path: Path) -> Process:
    """A matrix gateway of this test's own (for tests whose upstream errors could leave state,
    such as a key cooling down after a 429, that must not reach other tests)."""
    p = start_gateway(matrix_config(mock.url), tmp_path)
    yield p
    p.stop()


def make_openai_client(gw: Process):
    import openai

    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=CALLER_KEY, max_retries=0, timeout=30.0)


def make_anthropic_client(gw: Process):
    import anthropic

    return anthropic.Anthropic(
        base_url=f"{gw.url}/anthropic", api_key=CALLER_KEY, max_retries=0, timeout=30.0
    )


def make_genai_client(gw: Process, api_version: str | None = None):
    from google import genai
    from google.genai import types

    return genai.Client(
        api_key=CALLER_KEY,
        vertexai=False,
        http_options=types.HttpOptions(
            base_url=f"{gw.url}/genai",
            api_version=api_version,
            timeout=30_000,
            retry_options=types.HttpRetryOptions(attempts=1),
        ),
    )


@pytest.fixture
def openai_client(matrix_gateway: Process):
    """The official OpenAI SDK on the matrix gateway (`/v1`), no retries."""
    c = make_openai_client(matrix_gateway)
    yield c
    c.close()


@pytest.fixture
def anthropic_client(matrix_gateway: Process):
    """The official Anthropic SDK on the matrix gateway (`/anthropic`), no retries."""
    c = make_anthropic_client(matrix_gateway)
    yield c
    c.close()


@pytest.fixture
def genai_client(matrix_gateway: Process):
    """The official google-genai SDK on the matrix gateway (`/genai`), no retries."""
    c = make_genai_client(matrix_gateway)
    yield c
    c.close()
