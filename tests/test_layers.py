"""The house's layers point one way: no module imports anything from a layer above its own.

The layers and what each holds are in `docs/architecture.md`; a new module gets a layer here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "src" / "agentstream"

LAYERS: list[set[str]] = [
    # 0. the contract: errors, checks, the event models
    {"_errors", "_version", "_checks", "_events"},
    # 1. building events and reading chunked input; the text fast path
    {"_builders", "_chunks", "_textrun"},
    # 2. the wire: batches and closing, encoders, decoders, sinks, the client, event logs
    {"_streams", "_sse", "_ndjson", "_callbacks", "_client", "_eventlog", "_telemetry"},
    # 3. normalize(): its options, the SDK's shapes, buffering, failures, the reader, the stream
    {
        "_options",
        "_mapping",
        "_buffering",
        "_failures",
        "_reader",
        "_nested",
        "_normalize",
        "_interactive",
        "_conversations",
    },
    # 4. services: protocol bridges, resumable streams, the web transport, Redis
    {
        "_bridge",
        "_agui",
        "_ai_sdk",
        "_resume",
        "_runs",
        "_transport",
        "_frameworks",
        "web",
        "redis",
    },
    # 5. the public surface and the applications built on it
    {
        "__init__",
        "__main__",
        "agui",
        "ai_sdk",
        "conversations",
        "frameworks",
        "interactive",
        "nested",
        "resume",
        "_cli",
        "_demo",
        "testing",
    },
]


def _layer_of(module: str) -> int:
    for index, layer in enumerate(LAYERS):
        if module in layer:
            return index
    raise AssertionError(f"agentstream.{module} has no layer in tests/test_layers.py")


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imports(path: Path) -> set[str]:
    """The agentstream modules `path` imports, at any depth of its code (lazy imports too)."""
    names = set()
    inside_package = len(path.relative_to(PACKAGE).parts) > 1
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").startswith("agentstream"):
                parts = (node.module or "").split(".")
                names.add(parts[1] if len(parts) > 1 else "__init__")
            elif (node.level == 1 and not inside_package) or (node.level == 2 and inside_package):
                names.add((node.module or "__init__").split(".")[0])
    return names


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_from_a_layer_above_its_own(path: Path) -> None:
    module = _module_name(path)
    own = _layer_of(module)
    above = sorted(name for name in _imports(path) - {module} if _layer_of(name) > own)
    assert not above, f"agentstream.{module} (layer {own}) imports {above} from above"


def test_every_module_has_a_layer() -> None:
    for path in SOURCES:
        _layer_of(_module_name(path))
