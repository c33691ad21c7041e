"""The synchronous and asynchronous clients stay in step.

Both clients' methods hand the same plans (runyard/_calls.py) to a driver, so what they send is
written once; what is written twice is each method's signature, and this file checks it:

- every class of runyard/_client.py has its twin Async<name> in runyard/_async.py, and back;
- each pair has the same public methods, properties and instance attributes (an attribute that holds
  a client object holds its twin), `__enter__`/`__exit__` on one side where the other has
  `__aenter__`/`__aexit__`;
- each method's parameters (name, kind, default, annotation) and return annotation are the same once
  each synchronous class is read as its twin, Iterator as AsyncIterator, and Awaitable[X] as X; and
  so are the docstrings;
- each asynchronous twin of a plain method is a coroutine function, of a generator an async
  generator, of a contextmanager an asynccontextmanager; the same holds for `x`/`x_async` functions
  of the shared modules;
- and, run against one scripted server, both clients send the same requests and give back the same
  results for a script that calls every public method.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import re
import types
import typing
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from typing import Any

import httpx
import pytest
import runyard
from runyard import _async, _calls, _client, _transport
from runyard.models import Run, Sandbox


def classes(module: types.ModuleType) -> dict[str, type]:
    return {n: c for n, c in vars(module).items() if inspect.isclass(c) and c.__module__ == module.__name__}


SYNC, ASYNC = classes(_client), classes(_async)
TWINS: dict[type, type] = {cls: ASYNC[f"Async{name}"] for name, cls in SYNC.items() if f"Async{name}" in ASYNC}
PAIRS = sorted(TWINS.items(), key=lambda pair: pair[0].__name__)
ONE_WAY: dict[Any, Any] = {  # what a synchronous annotation reads as on the asynchronous side
    **TWINS,
    httpx.Client: httpx.AsyncClient,
    Iterator: AsyncIterator,
    Iterable: AsyncIterable,
    contextlib.AbstractContextManager: contextlib.AbstractAsyncContextManager,
}
DUNDERS = {"__enter__": "__aenter__", "__exit__": "__aexit__", "__iter__": "__aiter__", "__next__": "__anext__"}
CONTEXT_MANAGER = contextlib.contextmanager(lambda: iter([None])).__code__
ASYNC_CONTEXT_MANAGER = contextlib.asynccontextmanager(lambda: None).__code__
SHARED_MODULES = (_calls, _transport)


def test_every_class_has_its_twin() -> None:
    assert sorted(f"Async{name}" for name in SYNC) == sorted(ASYNC)


def test_both_sides_are_exported_alike() -> None:
    exported = {getattr(runyard, name) for name in runyard.__all__}
    for sync_cls, async_cls in PAIRS:
        assert (sync_cls in exported) == (async_cls in exported), f"export both {sync_cls.__name__} and its twin"


# ------------------------------------------------------------------ signatures


def canon(tp: Any, sync: bool) -> Any:
    """An annotation, comparable across the two sides."""
    if sync and isinstance(tp, typing.Hashable) and tp in ONE_WAY:
        tp = ONE_WAY[tp]
    if isinstance(tp, list | tuple):
        return tuple(canon(t, sync) for t in tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is None:
        return tp
    if origin in (Awaitable, Coroutine):
        return canon(args[-1], sync)
    if origin in (typing.Union, types.UnionType):
        return ("Union", frozenset(canon(a, sync) for a in args))
    if sync:
        origin = ONE_WAY.get(origin, origin)
    return (origin, tuple(canon(a, sync) for a in args))


def shape(fn: Callable[..., Any], sync: bool, docs: bool = True) -> tuple[Any, ...]:
    signature = inspect.signature(inspect.unwrap(fn), eval_str=True)
    params = tuple((p.name, p.kind, p.default, canon(p.annotation, sync)) for p in signature.parameters.values())
    return params, canon(signature.return_annotation, sync), inspect.getdoc(fn) if docs else None


def check_function_pair(label: str, sync_fn: Any, async_fn: Any, async_name: str, docs: bool = True) -> None:
    sync_shape, async_shape = shape(sync_fn, sync=True, docs=docs), shape(async_fn, sync=False, docs=docs)
    assert sync_shape == async_shape, f"{label}: the two signatures differ"
    sync_inner, async_inner = inspect.unwrap(sync_fn), inspect.unwrap(async_fn)
    if getattr(sync_fn, "__code__", None) is CONTEXT_MANAGER:
        assert async_fn.__code__ is ASYNC_CONTEXT_MANAGER, f"{label}: its twin must be an asynccontextmanager"
    if inspect.isgeneratorfunction(sync_inner):
        assert inspect.isasyncgenfunction(async_inner), f"{label}: its twin must be an async generator"
    elif async_name == "__aiter__":
        assert not inspect.iscoroutinefunction(async_inner), f"{label}: __aiter__ returns an async iterator"
    else:
        assert inspect.iscoroutinefunction(async_inner), f"{label}: its twin must be a coroutine function"


def public_names(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


@pytest.mark.parametrize(("sync_cls", "async_cls"), PAIRS, ids=[s.__name__ for s, _ in PAIRS])
def test_twin_classes_have_the_same_methods_and_signatures(sync_cls: type, async_cls: type) -> None:
    assert public_names(sync_cls) == public_names(async_cls)
    assert inspect.getdoc(sync_cls) == inspect.getdoc(async_cls)
    names = {name: name for name in public_names(sync_cls)}
    for sync_name, async_name in DUNDERS.items():
        if sync_name in vars(sync_cls) or async_name in vars(async_cls):
            names[sync_name] = async_name
    names["__init__"] = "__init__"
    for sync_name, async_name in names.items():
        label = f"{sync_cls.__name__}.{sync_name}"
        sync_attr = inspect.getattr_static(sync_cls, sync_name, None)
        async_attr = inspect.getattr_static(async_cls, async_name, None)
        assert type(sync_attr) is type(async_attr), f"{label}: {sync_attr!r} and {async_attr!r} are not alike"
        if isinstance(sync_attr, property):
            assert isinstance(async_attr, property)
            assert shape(sync_attr.fget, sync=True) == shape(async_attr.fget, sync=False), label
        elif isinstance(sync_attr, staticmethod | classmethod):
            check_function_pair(label, sync_attr.__func__, async_attr.__func__, async_name)
        elif sync_name == "__init__":
            assert shape(sync_attr, sync=True) == shape(async_attr, sync=False), label
        elif inspect.isfunction(sync_attr):
            check_function_pair(label, sync_attr, async_attr, async_name)
        else:
            assert canon(type(sync_attr), sync=True) is type(async_attr), label


@pytest.mark.parametrize("module", SHARED_MODULES, ids=lambda m: m.__name__)
def test_shared_functions_come_in_pairs_too(module: types.ModuleType) -> None:
    functions = {n: f for n, f in vars(module).items() if inspect.isfunction(f) and f.__module__ == module.__name__}
    for name, fn in functions.items():
        if inspect.iscoroutinefunction(fn):
            assert name.endswith("_async") and name.removesuffix("_async") in functions, f"{name} has no sync twin"
            sync_fn = functions[name.removesuffix("_async")]
            check_function_pair(f"{module.__name__}.{name}", sync_fn, fn, name, docs=False)  # say how each is driven


RUN = Run(id="r1", status="queued")
SANDBOX = Sandbox(id="s1", name="box", template="python", state="running")


def examples(sync: bool) -> dict[type, Any]:
    """One object of every class of a side: the roots built here, the rest reached through their attributes."""
    side = _client if sync else _async
    client = (side.Runyard if sync else side.AsyncRunyard)("http://runyard.test", "ry_k")
    found: dict[type, Any] = {}
    todo = [
        client,
        (side.RunHandle if sync else side.AsyncRunHandle)(client, RUN),
        (side.SandboxHandle if sync else side.AsyncSandboxHandle)(client, SANDBOX),
    ]
    while todo:
        obj = todo.pop()
        if type(obj) not in found:
            found[type(obj)] = obj
            todo.extend(v for v in vars(obj).values() if type(v).__module__ == side.__name__)
    return found


def test_twin_objects_have_the_same_attributes() -> None:
    sync_objects, async_objects = examples(sync=True), examples(sync=False)
    try:
        assert set(sync_objects) == set(SYNC.values()), "add an example of each new class to examples()"
        for sync_cls, async_cls in PAIRS:
            sync_obj, async_obj = sync_objects[sync_cls], async_objects[async_cls]
            sync_attrs = {k: v for k, v in vars(sync_obj).items() if not k.startswith("_")}
            async_attrs = {k: v for k, v in vars(async_obj).items() if not k.startswith("_")}
            assert set(sync_attrs) == set(async_attrs), sync_cls.__name__
            for name, value in sync_attrs.items():
                assert canon(type(value), sync=True) is type(async_attrs[name]), f"{sync_cls.__name__}.{name}"
                if type(value) not in TWINS:
                    assert value == async_attrs[name], f"{sync_cls.__name__}.{name}"
    finally:
        sync_objects[_client.Runyard].close()
        asyncio.run(async_objects[_async.AsyncRunyard].close())


# ------------------------------------------------------------------ behaviour, against one scripted server

FILE = {"path": "/workspace/a", "name": "a", "size": 5, "mode": "0600", "is_dir": False}
COMMAND = {"id": "c1", "command": "echo hi", "exit_code": 0, "stdout": "hi\n"}
PAGE = {"url": "http://127.0.0.1:3000/", "title": "t"}
BROWSER = {
    "navigate": {**PAGE, "status": 200},
    "click": PAGE,
    "type": PAGE,
    "screenshot": {"png": "iVBORw0KGgo=", "url": PAGE["url"]},
    "content": {**PAGE, "text": "hi", "links": []},
    "evaluate": {"value": 2},
}
SNAPSHOT = {"id": "p1", "name": "py-tools", "state": "active", "image_ref": "runyard/snapshot:p1", "size_bytes": 1}
ROUTES: list[tuple[str, str, Callable[[httpx.Request], Any]]] = [
    ("GET", r"/v1/languages", lambda _: [{"id": 71, "name": "python", "aliases": ["py"]}]),
    ("GET", r"/v1/status", lambda _: {"workers": 1}),
    ("POST", r"/v1/runs/batch", lambda _: [{"id": "r2", "status": "queued"}, {"id": "r3", "status": "queued"}]),
    ("POST", r"/v1/runs", lambda _: {"id": "r1", "status": "queued"}),
    ("GET", r"/v1/runs/\w+", lambda r: {"id": "r1", "status": "accepted" if "wait" in r.url.params else "running"}),
    ("DELETE", r"/v1/runs/\w+", lambda _: {"id": "r1", "status": "cancelled"}),
    ("GET", r"/v1/jobs/\w+", lambda _: {"id": "j1", "kind": "exec", "state": "succeeded"}),
    ("POST", r"/v1/sandboxes", lambda _: {**SANDBOX.model_dump(), "state": "starting"}),
    ("GET", r"/v1/sandboxes", lambda _: {"sandboxes": [SANDBOX.model_dump()]}),
    ("GET", r"/v1/sandboxes/\w+", lambda _: SANDBOX.model_dump()),
    ("POST", r"/v1/sandboxes/\w+/(stop|start)", lambda r: {**SANDBOX.model_dump(), "state": r.url.path[-4:]}),
    ("DELETE", r"/v1/sandboxes/\w+", lambda _: None),
    ("POST", r"/v1/sandboxes/\w+/exec", lambda _: {"exit_code": 0, "stdout": "ok\n"}),
    ("POST", r"/v1/sandboxes/\w+/kernel/cells", lambda _: {"output": "2\n"}),
    ("POST", r"/v1/sandboxes/\w+/kernel/restart", lambda _: None),
    ("PUT", r"/v1/sandboxes/\w+/files/content", lambda _: None),
    ("GET", r"/v1/sandboxes/\w+/files/content", lambda _: b"hello"),
    ("GET", r"/v1/sandboxes/\w+/files", lambda _: {"entries": [FILE]}),
    ("GET", r"/v1/sandboxes/\w+/files/stat", lambda _: FILE),
    ("POST", r"/v1/sandboxes/\w+/files/(mkdir|move|chmod)", lambda _: FILE),
    ("DELETE", r"/v1/sandboxes/\w+/files", lambda _: None),
    ("POST", r"/v1/sandboxes/\w+/sessions", lambda _: None),
    ("GET", r"/v1/sandboxes/\w+/sessions", lambda _: {"sessions": [{"name": "dev"}]}),
    ("DELETE", r"/v1/sandboxes/\w+/sessions/\w+", lambda _: None),
    ("POST", r"/v1/sandboxes/\w+/sessions/\w+/commands", lambda _: {**COMMAND, "running": True}),
    ("GET", r"/v1/sandboxes/\w+/sessions/\w+/commands/\w+", lambda _: COMMAND),
    ("POST", r"/v1/sandboxes/\w+/sessions/\w+/commands/\w+/cancel", lambda _: COMMAND),
    ("POST", r"/v1/sandboxes/\w+/sessions/\w+/commands/\w+/input", lambda _: {**COMMAND, "running": True}),
    ("POST", r"/v1/sandboxes/\w+/browser", lambda r: BROWSER[json.loads(r.content)["action"]]),
    ("GET", r"/v1/sandboxes/\w+/browser/cdp", lambda _: {"ws_url": "ws://h/v1/sandboxes/s1/ports/9222/devtools/x"}),
    ("POST", r"/v1/snapshots", lambda _: {**SNAPSHOT, "state": "pending"}),
    ("GET", r"/v1/snapshots", lambda _: {"snapshots": [SNAPSHOT]}),
    ("GET", r"/v1/snapshots/[\w-]+/logs", lambda r: b"Step 1/2 : FROM debian:12\n" * (1 + ("follow" in r.url.params))),
    ("GET", r"/v1/snapshots/[\w-]+", lambda _: SNAPSHOT),
    ("DELETE", r"/v1/snapshots/[\w-]+", lambda _: {**SNAPSHOT, "state": "removing"}),
]

# (the object, the method, its arguments, a name to keep the result under): every public method, once at least
STEPS: list[tuple[str, str, tuple[Any, ...], dict[str, Any], str | None]] = [
    ("client", "request", ("GET", "/v1/status"), {}, None),
    ("client", "languages", (), {}, None),
    ("client", "status", (), {}, None),
    ("client", "run", ("print(1)", "python"), {"stdin": b"\x00", "args": ["-x"], "limits": {"cpu_time_ms": 5}}, None),
    ("client", "submit", ("print(2)",), {"expected_output": "2\n", "callback_url": "http://cb.test/"}, "run"),
    ("run", "poll", (), {}, None),
    ("run", "wait", (5,), {}, None),
    ("run", "cancel", (), {}, None),
    ("client", "batch", ([{"code": "print(3)"}, {"code": b"int main;", "language": "c", "stdin": "1"}],), {}, None),
    ("client", "get_run", ("r1",), {}, None),
    ("client", "job", ("j1", 2), {}, None),
    ("client", "sandbox", ("python",), {"name": "scoped"}, None),
    ("client.sandboxes", "create", ("python",), {"name": "box", "cpus": 0.5, "network": False}, "box"),
    ("client.sandboxes", "get", ("box",), {}, None),
    ("client.sandboxes", "list", ({"owner": "docs"},), {}, None),
    ("box", "refresh", (), {}, None),
    ("box", "exec", (["ls", "-l"],), {"cwd": "/tmp", "env": {"A": "1"}, "timeout": 2, "stdin": "x"}, None),
    ("box", "exec", ("echo $A",), {}, None),
    ("box", "run_python", ("1 + 1",), {"timeout": 1.5}, None),
    ("box", "restart_python", (), {}, None),
    ("box", "stop", (), {}, None),
    ("box", "start", (), {}, None),
    ("box.files", "write", ("a", "hello", 0o600), {}, None),
    ("box.files", "read", ("a",), {}, None),
    ("box.files", "read_text", ("a",), {}, None),
    ("box.files", "list", (), {}, None),
    ("box.files", "stat", ("a",), {}, None),
    ("box.files", "mkdir", ("d",), {"mode": 0o700}, None),
    ("box.files", "remove", ("d",), {"recursive": True}, None),
    ("box.files", "move", ("a", "b"), {"overwrite": True}, None),
    ("box.files", "chmod", ("b", "644"), {}, None),
    ("box.sessions", "create", ("dev",), {}, None),
    ("box.sessions", "run", ("dev", "sleep 1"), {"background": True, "timeout": 3}, None),
    ("box.sessions", "get", ("dev", "c1"), {}, None),
    ("box.sessions", "cancel", ("dev", "c1"), {}, None),
    ("box.sessions", "send_input", ("dev", "c1", "yes\n"), {}, None),
    ("box.sessions", "list", (), {}, None),
    ("box.sessions", "delete", ("dev",), {}, None),
    ("box.browser", "navigate", ("http://127.0.0.1:3000/",), {"wait_until": "load"}, None),
    ("box.browser", "click", ("#go",), {}, None),
    ("box.browser", "click", (), {"x": 10, "y": 20.5}, None),
    ("box.browser", "type", ("hello", "#q"), {"submit": True}, None),
    ("box.browser", "screenshot", (), {"full_page": True}, None),
    ("box.browser", "content", (), {}, None),
    ("box.browser", "evaluate", ("1 + 1",), {}, None),
    ("box.browser", "cdp_url", (), {}, None),
    ("box", "__enter__", (), {}, None),
    ("box", "__exit__", (None, None, None), {}, None),
    ("box", "delete", (), {}, None),
    ("client.snapshots", "create", ("py-tools", "FROM debian:12\n"), {"memory_bytes": 1 << 30}, None),
    ("client.snapshots", "create", ("plain",), {"image": "debian:12", "cpus": 1.5}, None),
    ("client.snapshots", "wait", ("py-tools",), {"timeout": 30}, None),
    ("client.snapshots", "get", ("py-tools",), {}, None),
    ("client.snapshots", "list", (), {}, None),
    ("client.snapshots", "logs", ("py-tools",), {}, None),
    ("client.snapshots", "delete", ("py-tools",), {}, None),
    ("client", "__enter__", (), {}, None),
    ("client", "close", (), {}, None),
]


def scripted_server() -> tuple[httpx.MockTransport, list[tuple[Any, ...]]]:
    seen: list[tuple[Any, ...]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = request.content
        key = request.headers.get("idempotency-key")
        seen.append(
            (
                request.method,
                request.url.path,
                sorted(request.url.params.multi_items()),
                json.loads(body) if request.headers.get("content-type") == "application/json" else body,
                key is not None,
                {k: round(v, 1) for k, v in request.extensions.get("timeout", {}).items()},
            )
        )
        for method, pattern, answer in ROUTES:
            if request.method == method and re.fullmatch(pattern, request.url.path):
                reply = answer(request)
                if reply is None:
                    return httpx.Response(204)
                return (
                    httpx.Response(200, content=reply) if isinstance(reply, bytes) else httpx.Response(200, json=reply)
                )
        return httpx.Response(404, json={"error": {"type": "not_found", "message": request.url.path}})

    return httpx.MockTransport(handle), seen


def client_object(value: Any) -> bool:
    return type(value).__module__ in (_client.__name__, _async.__name__)


def plain(value: Any) -> Any:
    """A result, comparable across the two sides."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, httpx.Response):
        return value.status_code, value.json()
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if client_object(value):
        name = type(value).__name__.removeprefix("Async")
        return name, {k: plain(v) for k, v in vars(value).items() if not k.startswith("_") and not client_object(v)}
    return value


def target(objects: dict[str, Any], path: str) -> Any:
    first, *rest = path.split(".")
    obj = objects[first]
    for name in rest:
        obj = getattr(obj, name)
    return obj


def play(client: Any, called: set[tuple[str, str]]) -> list[Any]:
    objects, results = {"client": client}, []
    for path, method, args, kwargs, keep in STEPS:
        obj = target(objects, path)
        called.add((type(obj).__name__, method))
        if method == "sandbox":
            with obj.sandbox(*args, **kwargs) as result:
                pass
        else:
            result = getattr(obj, method)(*args, **kwargs)
        results.append(plain(result))
        if keep:
            objects[keep] = result
    return results


async def play_async(client: Any) -> list[Any]:
    objects, results = {"client": client}, []
    for path, method, args, kwargs, keep in STEPS:
        obj = target(objects, path)
        if method == "sandbox":
            async with obj.sandbox(*args, **kwargs) as result:
                pass
        else:
            result = await getattr(obj, DUNDERS.get(method, method))(*args, **kwargs)
        results.append(plain(result))
        if keep:
            objects[keep] = result
    return results


def test_both_clients_send_the_same_requests_and_give_back_the_same_results() -> None:
    (sync_transport, sync_seen), (async_transport, async_seen) = scripted_server(), scripted_server()
    sync_client = runyard.Runyard("http://runyard.test", "ry_k")
    sync_client.close()  # its own httpx client, replaced by one on the scripted server
    sync_client._http = httpx.Client(transport=sync_transport, **_transport.client_options(sync_client._settings))
    async_client = runyard.AsyncRunyard("http://runyard.test", "ry_k")
    asyncio.run(async_client.close())
    async_client._http = httpx.AsyncClient(
        transport=async_transport, **_transport.client_options(async_client._settings)
    )
    called: set[tuple[str, str]] = set()
    sync_results = play(sync_client, called)
    async_results = asyncio.run(play_async(async_client))
    wanted = {(cls.__name__, name) for cls in SYNC.values() for name in public_names(cls)}
    assert wanted <= called, f"add these to STEPS: {sorted(wanted - called)}"
    assert sync_seen == async_seen
    assert sync_results == async_results
