"""The sandboxed side of judging: run a submission's cells, then answer the judge's calls on its objects.

``python -m xaihealth.instructor.worker CELLS.json GENERATION`` is started by :mod:`.judge` inside the
sandbox (:func:`.judge.sandbox_command`), with the grading kit on ``PYTHONPATH`` and no stores: it can
read neither the references, nor the hidden tests, nor any expected value. It executes the student's
code cells (the check cells left out) in one IPython shell, telling the judge which cell it starts, and
then serves requests on stdin, answering on the stdout it had at start (the cells' own output goes to
``/dev/null``):

- ``("get", name)``: the global ``name`` (plain data, or a :class:`~.rpc.Handle`);
- ``("call", target, args, kwargs)``: call a handle (or a :class:`~.rpc.Global`) with the judge's
  arguments; while it runs, a :class:`~.rpc.Callback` among them calls back to the judge;
- ``("getattr", target, name)`` and ``("op", target, dunder, args)``: an attribute, ``len``, ``[]``, ``in``,
  iteration of a handle.

Everything it sends back is plain data (:func:`encode`): the judge reads it with
:class:`~.rpc.SafeUnpickler`, so the student's code, which runs here and could send anything, can make a
call fail but cannot run code in the judge or decide a verdict.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import sys
from typing import Any

from xaihealth.instructor.rpc import Callback, Failure, Global, Handle, TensorData, receive, safe_loads, send

_PLAIN = (type(None), bool, int, float, complex, str, bytes)
_OPS = {"__len__", "__getitem__", "__contains__", "__iter__", "__bool__"}


class _Worker:
    def __init__(self, generation: int, rin: int, rout: int) -> None:
        self.generation, self.rin, self.rout = generation, rin, rout
        self.objects: dict[int, Any] = {}
        self.ns: dict[str, Any] = {}

    # ------------------------------------------------------------------ encoding
    def handle(self, obj: Any) -> Handle:
        self.objects[id(obj)] = obj
        kind = "class" if isinstance(obj, type) else "callable" if callable(obj) else "object"
        return Handle(id(obj), kind, type(obj).__qualname__, self.generation)

    def encode(self, value: Any, depth: int = 0) -> Any:
        """``value`` as plain data: containers rebuilt, tensors as :class:`TensorData`, the rest handles."""
        import numpy as np

        if depth > 50:
            return self.handle(value)
        if type(value) in _PLAIN:
            return value
        if type(value) in (list, tuple, set, frozenset):
            return type(value)(self.encode(v, depth + 1) for v in value)
        if type(value) is dict:
            return {self.encode(k, depth + 1): self.encode(v, depth + 1) for k, v in value.items()}
        # a correct answer in a subclass (OrderedDict, defaultdict, a namedtuple, torch.Size, dict views,
        # np.matrix) comes back as its plain base type, which is what the checkers test for
        if isinstance(value, dict):
            return self.encode(dict(value), depth + 1)
        for base in (tuple, list, set, frozenset):
            if isinstance(value, base):
                return self.encode(base(value), depth + 1)
        if isinstance(value, type({}.keys()) | type({}.values()) | type({}.items())):
            return self.encode(list(value), depth + 1)
        masked = isinstance(value, np.ma.MaskedArray)  # its mask would be lost: stays a handle
        if isinstance(value, np.ndarray) and not value.dtype.hasobject and not masked:
            return np.asarray(value)
        if isinstance(value, np.generic) and not value.dtype.hasobject:
            return value
        torch = sys.modules.get("torch")
        if torch is not None and type(value) in (torch.Tensor, torch.nn.Parameter):
            if value.dtype == torch.bfloat16:
                array = value.detach().cpu().float().numpy()
            else:
                array = value.detach().cpu().resolve_conj().resolve_neg().numpy()
            return TensorData(array.copy(), str(value.dtype), bool(value.requires_grad))
        pandas = sys.modules.get("pandas")
        if pandas is not None and type(value) in (pandas.DataFrame, pandas.Series, pandas.Index,
                                                  pandas.RangeIndex, pandas.MultiIndex):  # fmt: skip
            try:  # a frame of plain values; one holding objects stays here
                safe_loads(pickle.dumps(value, protocol=4))
                return value
            except Exception:  # noqa: BLE001
                return self.handle(value)
        return self.handle(value)

    def payload(self, message: tuple) -> bytes:
        try:
            return pickle.dumps(message, protocol=4)
        except Exception as err:  # noqa: BLE001 - e.g. a frame holding an object: report, don't die
            return pickle.dumps(("err", Failure(type(err).__name__, f"could not send the answer: {err}")))

    # ------------------------------------------------------------------ decoding the judge's arguments
    def loads(self, data: bytes) -> Any:
        worker = self

        class _Unpickler(pickle.Unpickler):
            def persistent_load(self, pid: Any) -> Any:
                kind, value = pid
                if kind == "handle":
                    if value.generation != worker.generation or value.id not in worker.objects:
                        raise LookupError("a handle from an earlier run of the worker")
                    return worker.objects[value.id]
                if kind == "global":
                    return worker.resolve(value)
                if kind == "module":
                    import importlib

                    return importlib.import_module(value)
                if kind == "callback":
                    return _CallbackStub(worker, value)
                if kind == "object":
                    return _JudgeObjectStub(worker, value)
                raise pickle.UnpicklingError(f"unknown reference {kind!r}")

        import io

        return _Unpickler(io.BytesIO(data)).load()

    def resolve(self, ref: Global) -> Any:
        """The worker's global ``ref.name``, or its submodule or parameter at ``ref.path``."""
        obj = self.ns[ref.name]
        for part in filter(None, ref.path.split(".")):
            obj = getattr(obj, part)
        return obj

    def target(self, ref: Handle | Global) -> Any:
        if isinstance(ref, Global):
            return self.resolve(ref)
        if ref.generation != self.generation or ref.id not in self.objects:
            raise LookupError("a handle from an earlier run of the worker")
        return self.objects[ref.id]

    # ------------------------------------------------------------------ serving
    def failure(self, err: BaseException) -> Failure:
        try:
            from xaihealth.checks._core import student_line

            where = student_line(err)
        except Exception:  # noqa: BLE001
            where = None
        return Failure(type(err).__name__, str(err)[:2000], where)

    def answer(self, request: tuple) -> tuple:
        kind = request[0]
        try:
            if kind == "get":
                if request[1] not in self.ns:
                    return ("missing", request[1])
                return ("ok", self.encode(self.ns[request[1]]))
            if kind == "call":
                function = self.target(request[1])
                with _guarded(request[4] if len(request) > 4 else ()):
                    result = function(*request[2], **request[3])
                return ("ok", self.encode(result))
            if kind == "getattr":
                return ("ok", self.encode(getattr(self.target(request[1]), request[2])))
            if kind == "op" and request[2] in _OPS:
                obj = self.target(request[1])
                if request[2] == "__iter__":
                    return ("ok", self.encode(list(obj)))
                op = {"__len__": len, "__bool__": bool}.get(request[2])
                result = op(obj) if op else getattr(obj, request[2])(*request[3])
                return ("ok", self.encode(result))
            return ("err", Failure("ValueError", f"unknown request {kind!r}"))
        except BaseException as err:  # noqa: BLE001 - the student's exception is the answer
            if isinstance(err, KeyboardInterrupt | SystemExit) and kind != "call":
                raise
            return ("err", self.failure(err))

    def serve(self, until_return: bool = False) -> Any:
        """Answer requests; with ``until_return``, until the judge returns from a callback."""
        while True:
            try:
                message = self.loads(receive(self.rin))
            except EOFError:
                if until_return:
                    raise
                return None
            except Exception as err:  # noqa: BLE001 - an argument that does not unpickle here
                send(self.rout, self.payload(("err", self.failure(err))))
                continue
            if message[0] == "return":
                return message[1]
            if message[0] == "raise":
                raise RuntimeError(f"{message[1].type_name}: {message[1].message}")
            send(self.rout, self.payload(self.answer(message)))


@contextlib.contextmanager
def _guarded(guards: Any) -> Any:
    """Set each ``(owner, attribute, stub)`` the judge's checker has switched off, for one call; restore after
    (what :func:`xaihealth.checks._core.replaced` does in the judge: an inherited attribute is removed)."""
    missing = object()
    saved = [(owner, name, vars(owner).get(name, missing)) for owner, name, _ in guards]
    try:
        for owner, name, stub in guards:
            setattr(owner, name, stub)
        yield
    finally:
        for owner, name, original in reversed(saved):
            if original is missing:
                with contextlib.suppress(AttributeError):
                    delattr(owner, name)
            else:
                setattr(owner, name, original)


class _CallbackStub:
    """A judge-side function, as the student's code sees it: calling it asks the judge to run it."""

    def __init__(self, worker: _Worker, callback: Callback) -> None:
        object.__setattr__(self, "_worker", worker)
        object.__setattr__(self, "_callback", callback)

    def _ask(self, op: str, *args: Any, **kwargs: Any) -> Any:
        w = self._worker
        send(w.rout, w.payload(("callback", self._callback.id, op, w.encode(args), w.encode(kwargs))))
        return w.serve(until_return=True)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._ask("call", *args, **kwargs)


class _JudgeObjectStub(_CallbackStub):
    """A judge-side object the checker lends (a spy model, a planted game): its attributes, items and calls
    are the judge's, so the checker sees what the student's code did with it."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", name)

    def __len__(self) -> int:
        return self._ask("len")

    def __getitem__(self, key: Any) -> Any:
        return self._ask("getitem", key)

    def __iter__(self) -> Any:
        return iter(self._ask("iter"))

    def __contains__(self, key: Any) -> bool:
        return self._ask("contains", key)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cells = json.loads(open(argv[0], encoding="utf-8").read())
    generation = int(argv[1])
    rin, rout = 0, os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    worker = _Worker(generation, rin, rout)
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    worker.ns = shell.user_ns
    for cell in cells:
        send(rout, pickle.dumps(("cell", cell["index"])))
        try:
            shell.run_cell(cell["source"], store_history=False, silent=True)
        except BaseException:  # noqa: BLE001 - a cell's SystemExit is that cell's failure
            pass
    send(rout, pickle.dumps(("ready", None)))
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
