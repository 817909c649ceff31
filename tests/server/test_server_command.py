"""The argv built for each engine: a list, exactly the flags given, the API key never in it."""

from __future__ import annotations

import socket
import sys

import pytest

from engine.config import ServerEngine
from engine.errors import InputError
from engine.server import ServerOptions, build_launch
from engine.server.command import API_KEY_CHILD_ENV, resolve_port


def test_sglang_argv_has_exactly_the_flags_given() -> None:
    opts = ServerOptions(model_path="/models/qwen", tp_size=4, dp_size=2, host="127.0.0.1", port=31000,
                         reasoning_parser="qwen3", mem_fraction_static=0.85, context_length=32768,
                         python="/opt/py/bin/python", extra_args=["--cuda-graph-max-bs", "32", "--trust-remote-code"])
    spec = build_launch(opts)
    assert spec.argv == [
        "/opt/py/bin/python", "-m", "sglang.launch_server",
        "--model-path", "/models/qwen", "--tp-size", "4", "--dp-size", "2",
        "--host", "127.0.0.1", "--port", "31000",
        "--reasoning-parser", "qwen3", "--mem-fraction-static", "0.85", "--context-length", "32768",
        "--enable-metrics", "--cuda-graph-max-bs", "32", "--trust-remote-code",
    ]
    assert spec.url == "http://127.0.0.1:31000"
    assert spec.ready_paths[0] == "/health_generate"


def test_sglang_argv_minimal_adds_nothing_not_asked_for() -> None:
    spec = build_launch(ServerOptions(model_path="m", port=30000, enable_metrics=False))
    assert spec.argv == [sys.executable, "-m", "sglang.launch_server", "--model-path", "m",
                         "--host", "127.0.0.1", "--port", "30000"]
    assert spec.env == {}


def test_api_key_travels_in_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVE_KEY", "sk-very-secret-123456")
    spec = build_launch(ServerOptions(model_path="m", port=30000, api_key_env="MY_SERVE_KEY"))
    assert not any("sk-very-secret" in a for a in spec.argv)
    assert spec.env[API_KEY_CHILD_ENV] == "sk-very-secret-123456"
    assert spec.argv[1] == "-c" and spec.argv[3] == "sglang.launch_server"
    assert spec.argv[4:] == ["--model-path", "m", "--host", "127.0.0.1", "--port", "30000", "--enable-metrics"]


def test_missing_api_key_env_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_KEY", raising=False)
    with pytest.raises(InputError, match="NOPE_KEY"):
        build_launch(ServerOptions(model_path="m", port=1, api_key_env="NOPE_KEY"))


def test_port_auto_picks_a_free_port() -> None:
    spec = build_launch(ServerOptions(model_path="m", port="auto"))
    assert 1024 <= spec.port <= 65535
    with socket.socket() as s:  # really free: we can bind it
        s.bind(("127.0.0.1", spec.port))
    with pytest.raises(InputError):
        resolve_port("eighty", "127.0.0.1")


def test_router_argv() -> None:
    spec = build_launch(ServerOptions(engine="router", worker_urls=["http://a:1", "http://b:2"], policy="round_robin",
                                      port=8000, python="py", prometheus_port=8001))
    assert spec.argv == ["py", "-m", "sglang_router.launch_router", "--worker-urls", "http://a:1", "http://b:2",
                         "--policy", "round_robin", "--host", "127.0.0.1", "--port", "8000",
                         "--prometheus-host", "127.0.0.1", "--prometheus-port", "8001"]
    assert spec.ready_paths[0] == "/readiness"  # 503 until a worker is healthy
    # the router's Prometheus port defaults to a free one, not its fixed 29000
    auto = build_launch(ServerOptions(engine="router", worker_urls=["http://a:1"], port=8000))
    assert auto.argv[-4] == "--prometheus-host" and int(auto.argv[-1]) not in (8000, 29000)


def test_engine_template_from_config() -> None:
    engines = {"vllm": ServerEngine(command=["vllm", "serve", "{model_path}", "--host", "{host}", "--port", "{port}",
                                             "--tensor-parallel-size", "{tp_size}"], ready_path="/v1/models")}
    spec = build_launch(ServerOptions(engine="vllm", model_path="org/m", tp_size=2, port=9000, engines=engines,
                                      extra_args=["--max-model-len", "4096"]))
    assert spec.argv == ["vllm", "serve", "org/m", "--host", "127.0.0.1", "--port", "9000",
                         "--tensor-parallel-size", "2", "--max-model-len", "4096"]
    assert spec.ready_paths == ("/v1/models",)


def test_unknown_engine_and_bad_placeholder() -> None:
    with pytest.raises(InputError, match="no such engine"):
        build_launch(ServerOptions(engine="tgi", model_path="m", port=1))
    engines = {"x": ServerEngine(command=["srv", "{nope}"])}
    with pytest.raises(InputError, match="placeholder"):
        build_launch(ServerOptions(engine="x", model_path="m", port=1, engines=engines))


def test_model_path_required() -> None:
    with pytest.raises(InputError, match="--model-path"):
        build_launch(ServerOptions(port=1))
