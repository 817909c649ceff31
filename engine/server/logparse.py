"""Read a server's log: the start-up phase it is in, and why it died (one line)."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: (phase name, pattern) matched against each log line; the lines are SGLang's own messages
#: (model_runner.py, cuda_graph_runner.py, http_server.py), plus vLLM's and the router's.
PHASE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("starting", r"server_args=|Starting router|vLLM API server version"),
        ("initialising distributed", r"Init torch distributed begin"),
        ("loading weights", r"Load weight begin|Loading weights|Loading safetensors checkpoint shards"),
        ("weights loaded", r"Load weight end|Loading weights took|Model loading took"),
        ("allocating KV cache", r"KV Cache is allocated|Memory pool end|GPU KV cache size"),
        ("capturing CUDA graphs", r"Capture (?:\w+ )?cuda graph begin|Capturing CUDA graph|Capturing cudagraph"),
        ("CUDA graphs captured", r"Capture (?:\w+ )?cuda graph end|Graph capturing finished"),
        ("starting HTTP server", r"Uvicorn running on|Started server process|Application startup complete"),
        ("ready", r"The server is fired up and ready to roll|Router is ready|Starting vLLM API server"),
    )
)


def phase_of(line: str) -> str | None:
    """The start-up phase a log line announces, or None."""
    for name, pattern in PHASE_PATTERNS:
        if pattern.search(line):
            return name
    return None


@dataclass(frozen=True)
class Diagnosis:
    """Why a server failed: a short cause name and the one line to show the user."""

    cause: str
    message: str


def _rules(python: str | None, module: str | None) -> list[tuple[str, re.Pattern[str], str]]:
    py = python or "that Python"
    package = (module or "sglang").split(".")[0]
    pip_name = {"sglang": "'sglang[all]'", "sglang_router": "sglang-router"}.get(package, package)
    return [
        ("cuda_oom", re.compile(r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory", re.I),
         "CUDA out of memory: lower --mem-fraction-static (e.g. 0.8), use fewer CUDA graph batch sizes "
         "(--cuda-graph-max-bs 32 after --) or a larger --tp-size"),
        ("port_in_use", re.compile(r"address already in use|Errno 98|EADDRINUSE", re.I),
         "address already in use: another process holds the port: pick another --port or use --port auto"),
        ("nccl", re.compile(r"NCCL(?: error|Error| WARN)|ncclSystemError|ncclUnhandledCudaError|DistBackendError", re.I),
         "NCCL error: with --dp-size/--tp-size > 1 check the GPUs are free, set NCCL_DEBUG=INFO, "
         "or pass --nccl-port after -- to avoid a port clash"),
        ("model_not_found", re.compile(
            r"is not a local folder and is not a valid model identifier|Repository Not Found|"
            r"HFValidationError|Can't load the configuration of|No such file or directory: .*config\.json|"
            r"does not appear to have a file named config\.json", re.I),
         "model not found: --model-path is neither a folder with config.json nor a Hugging Face id this box can download"),
        ("not_installed", re.compile(rf"No module named '?{re.escape(package)}\b|Error while finding module specification for '{re.escape(package)}", re.I),
         f"{package} is not installed in {py}: pip install {pip_name} there, or pass --python with a Python that has it"),
        ("import_error", re.compile(r"ImportError|ModuleNotFoundError|undefined symbol", re.I),
         f"import error in {py}: a dependency of {package} is missing or broken (see the log tail)"),
        ("watchdog", re.compile(r"watchdog timeout|Watchdog caught collective operation timeout|"
                                r"Scheduler watchdog", re.I),
         "watchdog timeout: a step hung (often NCCL or a stuck GPU): check nvidia-smi and NCCL_DEBUG=INFO"),
    ]


def diagnose(lines: list[str], *, python: str | None = None, module: str | None = None) -> Diagnosis | None:
    """The most specific known cause found in a log tail, or None.

    Causes are checked in order of specificity (an OOM traceback also mentions an ImportError-free
    stack, a missing package also says ModuleNotFoundError), so the first rule that matches any
    line wins.
    """
    text = "\n".join(lines)
    for cause, pattern, message in _rules(python, module):
        if pattern.search(text):
            return Diagnosis(cause, message)
    return None


def last_error_line(lines: list[str]) -> str | None:
    """The last line that looks like an error (for causes we do not know)."""
    for line in reversed(lines):
        stripped = line.strip()
        if re.search(r"error|exception|fatal|killed|traceback", stripped, re.I) and not stripped.startswith("File "):
            return stripped[:300]
    return None
