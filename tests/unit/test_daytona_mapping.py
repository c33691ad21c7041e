"""docs/daytona.md's mapping table names every public method of the newest `daytona` SDK, each served or
deliberately refused (501, with the reason): when the SDK grows, this fails until the table says what
Runyard does with the new call."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

# Every class of the SDK a caller reaches (the async ones are these, with "Async" before the name).
CLASSES = {
    "Daytona": "daytona._sync.daytona",
    "Sandbox": "daytona._sync.sandbox",
    "FileSystem": "daytona._sync.filesystem",
    "Git": "daytona._sync.git",
    "Process": "daytona._sync.process",
    "CodeInterpreter": "daytona._sync.code_interpreter",
    "ComputerUse": "daytona._sync.computer_use",
    "Mouse": "daytona._sync.computer_use",
    "Keyboard": "daytona._sync.computer_use",
    "Screenshot": "daytona._sync.computer_use",
    "Display": "daytona._sync.computer_use",
    "RecordingService": "daytona._sync.computer_use",
    "Accessibility": "daytona._sync.computer_use",
    "LspServer": "daytona._sync.lsp_server",
    "SnapshotService": "daytona._sync.snapshot",
    "VolumeService": "daytona._sync.volume",
    "SecretService": "daytona._sync.secret",
    "WarmPoolService": "daytona._sync.warm_pool",
    "ObjectStorage": "daytona._sync.object_storage",
    "PtyHandle": "daytona.handle.pty_handle",
}
ROW = re.compile(r"^\| `(\w+)\.(\w+)` \| (served|refused \(501\)) \| (.+) \|$")
DOC = Path(__file__).resolve().parents[2] / "docs" / "daytona.md"


def public(cls: type) -> set[str]:
    """Methods and properties the SDK defines (not its generated models', nor pydantic's)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is object or not klass.__module__.startswith("daytona."):
            continue
        names |= {n for n, v in vars(klass).items() if not n.startswith("_") and n != "model_post_init" and (
            callable(v) or isinstance(v, property | staticmethod | classmethod))}  # fmt: skip  # reason: one rule
    return names


def surface(prefix: str = "") -> dict[str, set[str]]:
    module = {name: importlib.import_module(path) for name, path in CLASSES.items()}
    async_path = {name: path.replace("._sync.", "._async.") for name, path in CLASSES.items()}
    async_path["PtyHandle"] = "daytona.handle.async_pty_handle"
    if prefix:
        module = {name: importlib.import_module(async_path[name]) for name in CLASSES}
    return {name: public(getattr(module[name], prefix + name)) for name in CLASSES}


def table() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        if match := ROW.match(line):
            cls, method, verdict, how = match.groups()
            rows[f"{cls}.{method}"] = (verdict, how)
    return rows


def test_every_sdk_call_is_in_the_mapping_table_and_nothing_else() -> None:
    calls = {f"{cls}.{m}" for cls, methods in surface().items() for m in methods}
    calls |= {f"AsyncDaytona.{m}" for m in surface("Async")["Daytona"] - surface()["Daytona"]}
    documented = table()
    assert sorted(calls - documented.keys()) == [], "SDK calls the table does not name"
    assert sorted(documented.keys() - calls) == [], "rows for calls the SDK no longer has"


def test_the_async_sdk_has_nothing_the_sync_one_lacks_but_close() -> None:
    sync, asynchronous = surface(), surface("Async")
    extra = {f"{cls}.{m}" for cls in CLASSES for m in asynchronous[cls] - sync[cls]}
    assert extra == {"Daytona.close"}


def test_each_row_says_how_or_why_not() -> None:
    for call, (_, how) in table().items():
        assert len(how) > 10, call
