"""Verdicts decided outside the student's kernel (review R15b, holes B2' and B4').

In nbgrader's kernel the student's code and the checkers share one process: whatever a check cell can
read (stored expected values, hidden tests), the student's code can read too, and whatever it decides,
the student's code can overrule (``Exercise.expect`` replaced, the integrity check switched off). So the
scores of ``make grade`` are decided here, in a *judge* process that runs only the instructor's code:

- a **worker** (:mod:`.worker`) re-runs the submission's own cells (its check cells left out) in a
  sandbox: bubblewrap (``bwrap``) mounts an empty folder over the repository, the home folder, ``/tmp``
  and the grading folder, and gives back, read-only, only the virtual environment, ``datasets/`` and the
  submission's grading kit (no references, no hidden tests, no expected values); no network, no view of
  other processes, nothing written outside its own empty ``/tmp``;
- the **judge** (this module, ``python -m xaihealth.instructor.judge``) runs the lab's source notebook
  (setup cells, then every check cell *with* its hidden tests) against the real references. Where the
  source has a solution cell, the judge binds the names the cell defines to the worker's objects: plain
  data is copied (read with :class:`~.rpc.SafeUnpickler`), functions and classes become
  :class:`RemoteObject` proxies whose calls run in the worker. The judge's own functions passed to a
  student's function (a value function, a predictor) are called back in the judge, so a checker still
  sees which coalitions were evaluated; the lab's model is the worker's own copy (:class:`~.rpc.Global`).

A check cell passes only if its code, public and hidden parts, ran without an error here. The checkers'
run-time guards (:func:`xaihealth.checks._core.replaced`) are set in the worker too for each call. What the
student's code can still do: fail its own calls, be slow (each call is stopped after the cell timeout), or
keep a library function before a guard replaces it: that stays the AST rules' job (:mod:`.flags`) and the
kernel's run, whose check-cell score is kept as a ceiling (:mod:`.autograde`). A spy on an object the
checker passes (hooks on a layer) cannot see the worker (``_core.STUDENT_CODE_ELSEWHERE``).
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib
import io
import json
import os
import pickle
import select
import shutil
import signal
import subprocess
import sys
import time
import types
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xaihealth.instructor.rpc import (
    Callback,
    Failure,
    Global,
    Handle,
    ProtocolError,
    TensorData,
    receive,
    safe_loads,
    send,
)

REPO = Path(__file__).resolve().parents[3]
_RESTARTS = 4
# Check cells the judge cannot run yet, by lab: their objects do not cross the pipe (a SQLAlchemy archive
# with planted faults, a returned query). Their score stays the kernel's, public tests only (the hidden
# tests run only in the judge); make grade notes it per row.
KERNEL_ONLY = {"07": {"check-1", "check-4"}}
_JUDGE_ONLY = ("xaihealth.instructor.hidden", "xaihealth.instructor.references", "xaihealth.tooling",
               "xaihealth.instructor.judge")  # modules the worker's kit does not have  # fmt: skip


@functools.lru_cache(maxsize=4096)
def _by_reference(thing: Any) -> bool:
    """Whether pickle can send the function or class ``thing`` by its name to the worker: defined at the
    top of a module the worker's kit has (not the judge's own modules, not a notebook cell)."""
    module, qualname = getattr(thing, "__module__", None) or "", getattr(thing, "__qualname__", "<locals>")
    if "<locals>" in qualname or module in ("__main__", "builtins") and isinstance(thing, types.FunctionType):
        return False
    if module.startswith(_JUDGE_ONLY):
        return False
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, ValueError):
        return False
    return found is thing


def _spy(obj: Any) -> bool:
    """Whether ``obj`` is a checker's callable object (a fitter that records the patients it is given): it is
    lent, not copied, so that what the student's code calls is recorded here, where the checker reads it."""
    torch = sys.modules.get("torch")
    return type(obj).__module__.startswith("xaihealth.checks.") and callable(obj) \
        and not (torch is not None and isinstance(obj, torch.nn.Module))


class JudgeTimeout(TimeoutError):
    """The student's code did not answer in time (the worker was stopped)."""


class RemoteError(RuntimeError):
    """An exception raised by the student's code in the worker, of a type the judge does not import."""


# ------------------------------------------------------------------------------------------------ sandbox


def sandbox_available() -> bool:
    """Whether bubblewrap can start a sandbox here (installed, and user namespaces allowed)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    try:
        run = subprocess.run(sandbox_command(["true"], Path(sys.prefix), []), capture_output=True,
                             timeout=20)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return run.returncode == 0


def sandbox_command(argv: list[str], kit_src: Path, hide: list[Path],
                    files: tuple[tuple[Path, str], ...] = (), *, readable: tuple[Path, ...] = (),
                    writable: tuple[Path, ...] = (), kernel: bool = False, chdir: str | None = "/tmp",
                    ) -> list[str]:  # fmt: skip
    """``argv`` run by bubblewrap: everything read-only, ``hide`` (and the home folder, the repository,
    ``/tmp``) replaced by empty folders, then only the Python installation, the virtual environment,
    ``datasets/``, ``kit_src`` and ``readable`` given back read-only, ``writable`` read-write, and ``files``
    (path, where inside) read-only. No network (a ``kernel`` talks to its manager over unix sockets instead),
    no view of other processes, no capabilities."""
    from xaihealth.data.paths import datasets_dir

    command = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
               "--cap-drop", "ALL", "--unshare-user-try", "--unshare-ipc",
               "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]  # fmt: skip
    # --die-with-parent only for a worker: it fires when the *thread* that started the process ends, which
    # for a kernel (started by jupyter_client's event loop) is at once; a kernel is stopped by its manager
    command += ["--unshare-net", "--new-session"] + ([] if kernel else ["--die-with-parent"])
    # ipykernel exits when its parent looks dead (getppid() == 1), as it does in a new PID namespace: the
    # kernel is stopped by its manager (or with the sandbox, --die-with-parent) instead
    command += ["--unsetenv", "JPY_PARENT_PID"]
    home = Path(os.path.expanduser("~"))
    for folder in dict.fromkeys([*hide, home, REPO]):
        if folder.is_dir() and folder != Path("/"):
            command += ["--tmpfs", str(folder)]
    given = [Path(sys.base_prefix), Path(sys.prefix), datasets_dir(), kit_src, *readable]
    for folder in dict.fromkeys(Path(f).resolve() for f in given):
        command += ["--ro-bind", str(folder), str(folder)]
    for folder in writable:
        command += ["--bind", str(Path(folder).resolve()), str(Path(folder).resolve())]
    for path, inside in files:
        command += ["--ro-bind", str(Path(path).resolve()), inside]
    return command + (["--chdir", chdir] if chdir else []) + ["--", *argv]


# ------------------------------------------------------------------------------------------------ worker


class RemoteObject:
    """A student's function, class or object that lives in the worker; calls and attributes go there."""

    def __init__(self, client: WorkerClient, handle: Handle, name: str | None = None) -> None:
        object.__setattr__(self, "_client", client)
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_name", name)

    def _ref(self) -> Handle:
        self._client.ensure()  # a stopped worker restarts first, so a global is looked up in the new run
        handle, client = self._handle, self._client
        if handle.generation != client.generation and self._name is not None:
            fresh = client.get(self._name)  # the worker was restarted: the same global in the new run
            if isinstance(fresh, RemoteObject):
                object.__setattr__(self, "_handle", fresh._handle)
        return self._handle

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # the library functions the checker switched off (checks._core.replaced) are switched off in the
        # worker too for the call, their stubs called back here
        core = sys.modules.get("xaihealth.checks._core")
        guards = list(getattr(core, "ACTIVE_GUARDS", ()))
        return self._client.request(("call", self._ref(), args, kwargs, guards))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._client.request(("getattr", self._ref(), name))

    def __len__(self) -> int:
        return self._client.request(("op", self._ref(), "__len__", ()))

    def __getitem__(self, key: Any) -> Any:
        return self._client.request(("op", self._ref(), "__getitem__", (key,)))

    def __contains__(self, key: Any) -> bool:
        return self._client.request(("op", self._ref(), "__contains__", (key,)))

    def __iter__(self) -> Any:
        return iter(self._client.request(("op", self._ref(), "__iter__", ())))

    def __bool__(self) -> bool:
        return bool(self._client.request(("op", self._ref(), "__bool__", ())))

    def __repr__(self) -> str:
        return f"<your {self._handle.type_name}>"


def _raise(failure: Failure) -> None:
    import builtins

    kind = getattr(builtins, failure.type_name, None)
    message = failure.message + (f" [{failure.where}]" if failure.where else "")
    if isinstance(kind, type) and issubclass(kind, Exception) and kind.__module__ == "builtins":
        try:
            raise kind(message)
        except TypeError:  # an exception type whose constructor takes other arguments
            pass
    raise RemoteError(f"{failure.type_name}: {message}")


class WorkerClient:
    """The judge's end of one sandboxed worker: start it (cells run), ask it, restart it after a timeout."""

    def __init__(self, cells: list[dict], kit_src: Path, work: Path, cell_timeout: float,
                 sandbox: bool, hide: list[Path]) -> None:  # fmt: skip
        self.cells, self.kit_src, self.work = cells, Path(kit_src), Path(work)
        self.cell_timeout, self.sandbox, self.hide = cell_timeout, sandbox, hide
        self.process: subprocess.Popen | None = None
        self.generation = 0
        self.skipped: list[int] = []
        self.notes: list[str] = []
        self.callbacks: dict[int, Any] = {}
        self.shared: dict[int, Global] = {}  # id of a judge object -> the worker's global (and path) for it

    # -------------------------------------------------------------- process
    def _env(self) -> dict[str, str]:
        from xaihealth.instructor.autograde import nbgrader_env

        # only what Python, the kit and the libraries need: not the grader's own environment
        keep = ("PATH", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONWARNINGS", "LANG", "LC_ALL", "TZ",
                "MPLBACKEND", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TQDM_DISABLE",
                "HF_HUB_OFFLINE", "XAIHEALTH_OFFLINE", "XAIHEALTH_DATASETS")  # fmt: skip
        env = {k: v for k, v in nbgrader_env(self.kit_src).items() if k in keep}
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
        env.update(HOME="/tmp", MPLCONFIGDIR="/tmp")
        return env

    def start(self) -> None:
        self.stop()
        for _ in range(_RESTARTS + 1):
            self.generation += 1
            cells = [c for c in self.cells if c["index"] not in self.skipped]
            spec = self.work / "worker-cells.json"
            spec.write_text(json.dumps(cells), encoding="utf-8")
            argv = [sys.executable, "-m", "xaihealth.instructor.worker", str(spec), str(self.generation)]
            if self.sandbox:
                argv = sandbox_command(argv[:3] + ["/tmp/cells.json", str(self.generation)], self.kit_src,
                                       self.hide, files=((spec, "/tmp/cells.json"),))  # fmt: skip
            self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=subprocess.DEVNULL, env=self._env(), cwd=self.work,
                                            start_new_session=True)  # fmt: skip
            running: int | None = None
            try:
                while True:
                    kind, value = self._read(self.cell_timeout)
                    if kind == "ready":
                        return
                    if kind == "cell":
                        running = int(value)
            except (JudgeTimeout, EOFError, ProtocolError) as err:
                self.stop()
                if running is None:
                    raise RuntimeError(f"the judge's worker did not start: {err}") from None
                self.skipped.append(running)
                why = "stopped after its timeout" if isinstance(err, JudgeTimeout) else "ended the worker"
                self.notes.append(f"judge: cell {running + 1} {why}; the worker ran again without it")
        raise RuntimeError("the judge's worker failed to run the notebook after several restarts")

    def stop(self) -> None:
        if self.process is not None:
            from xaihealth.instructor.autograde import _kill_tree

            _kill_tree(self.process.pid)
            self.process.wait()
            self.process = None

    def _read(self, timeout: float) -> tuple:
        assert self.process is not None and self.process.stdout is not None
        fd = self.process.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise JudgeTimeout(f"the student's code did not answer within {timeout:g} s (an endless loop, "
                               "or far too slow)")  # fmt: skip
        message = safe_loads(receive(fd))
        if not (isinstance(message, tuple) and len(message) >= 2 and isinstance(message[0], str)):
            raise ProtocolError("the worker sent something that is not a message")
        return message

    # -------------------------------------------------------------- messages
    def _dumps(self, message: tuple) -> bytes:
        client = self

        class _Pickler(pickle.Pickler):
            def persistent_id(self, obj: Any) -> Any:
                if isinstance(obj, RemoteObject):
                    return ("handle", obj._ref())
                if id(obj) in client.shared:
                    return ("global", client.shared[id(obj)])
                if isinstance(obj, types.ModuleType):
                    return ("module", obj.__name__)
                owner = getattr(obj, "__self__", None)
                if isinstance(obj, types.BuiltinFunctionType) and isinstance(owner, types.ModuleType | None):
                    return None  # a C function of a module (numpy's array rebuilder): by its name
                if isinstance(obj, types.FunctionType | types.MethodType | types.BuiltinMethodType):
                    if isinstance(obj, types.FunctionType) and _by_reference(obj):
                        return None  # a module-level function the kit has: it runs in the worker
                    client.callbacks[id(obj)] = obj  # a closure, a method, the judge's own: called back
                    return ("callback", Callback(id(obj)))
                if type(obj).__module__ != "builtins" and not isinstance(obj, type) \
                        and (not _by_reference(type(obj)) or _spy(obj)):
                    client.callbacks[id(obj)] = obj  # not in the kit, or a checker's spy: lent, not copied
                    return ("object", Callback(id(obj)))
                return None

        buffer = io.BytesIO()
        _Pickler(buffer, protocol=4).dump(message)
        return buffer.getvalue()

    def decode(self, value: Any) -> Any:
        if isinstance(value, Handle):
            return RemoteObject(self, value)
        if isinstance(value, TensorData):
            import torch

            dtype = getattr(torch, value.dtype.removeprefix("torch."), None)
            tensor = torch.from_numpy(value.array.copy())
            tensor = tensor.to(dtype) if isinstance(dtype, torch.dtype) else tensor
            return tensor.requires_grad_(value.requires_grad) if tensor.is_floating_point() else tensor
        if type(value) in (list, tuple, set, frozenset):
            return type(value)(self.decode(v) for v in value)
        if type(value) is dict:
            return {self.decode(k): self.decode(v) for k, v in value.items()}
        return value

    def get(self, name: str) -> Any:
        """The worker's global ``name``: plain data, or a proxy; ``NameError`` if the notebook has none."""
        value = self.request(("get", name), missing_ok=True)
        if isinstance(value, RemoteObject):
            object.__setattr__(value, "_name", name)
        return value

    def ensure(self) -> None:
        """Start the worker again if it was stopped (a timeout) or ended (the student's code)."""
        if self.process is None or self.process.poll() is not None:
            self.start()

    def request(self, message: tuple, missing_ok: bool = False) -> Any:
        """Send ``message`` and wait for its answer, running the worker's callbacks meanwhile."""
        self.ensure()
        assert self.process is not None and self.process.stdin is not None
        deadline = time.monotonic() + self.cell_timeout
        try:
            send(self.process.stdin.fileno(), self._dumps(message))
            while True:
                kind, *rest = self._read(max(0.0, deadline - time.monotonic()))
                if kind == "ok":
                    return self.decode(rest[0])
                if kind == "missing" and missing_ok:
                    raise NameError(f"name {rest[0]!r} is not defined in your notebook")
                if kind == "err" and isinstance(rest[0], Failure):
                    _raise(rest[0])
                if kind == "callback" and len(rest) == 4:
                    self._callback(*rest)
                    continue
                raise ProtocolError(f"an unexpected answer {kind!r} from the worker")
        except (NameError, RemoteError) as err:
            raise err from None
        except Exception as err:
            if isinstance(err, ProtocolError | EOFError | OSError | TimeoutError):  # JudgeTimeout, a pipe
                self.stop()  # the conversation is out of step: the next request starts a fresh worker
                if isinstance(err, EOFError | BrokenPipeError):
                    raise RemoteError("the student's code ended the worker process") from None
            raise

    def _callback(self, callback_id: int, op: str, args: Any, kwargs: Any) -> None:
        """Run what the worker asked of a lent judge object (``op``: call, getattr, len, getitem, iter,
        contains) and send the answer back."""
        assert self.process is not None and self.process.stdin is not None
        target = self.callbacks.get(callback_id)
        try:
            if target is None:
                raise LookupError("an unknown callback")
            args, kwargs = self.decode(args), self.decode(kwargs)
            if op == "getattr" and not (args and isinstance(args[0], str) and not args[0].startswith("__")):
                raise AttributeError(f"the checker's objects lend no attribute {args[:1]!r} (dunder names "
                                     "such as __globals__ or __dict__ stay in the grader)")  # fmt: skip
            ops = {"call": lambda: target(*args, **kwargs), "getattr": lambda: getattr(target, *args),
                   "len": lambda: len(target), "getitem": lambda: target[args[0]],
                   "iter": lambda: list(target), "contains": lambda: args[0] in target}  # fmt: skip
            if op not in ops:
                raise ValueError(f"an unknown operation {op!r}")
            data = self._dumps(("return", ops[op]()))
        except Exception as err:  # noqa: BLE001 - the checker's function raised (or its answer cannot be
            # sent): the worker's call sees it, and the conversation stays in step
            data = self._dumps(("raise", Failure(type(err).__name__, str(err)[:500])))
        send(self.process.stdin.fileno(), data)


# ------------------------------------------------------------------------------------------------ notebook


def defined_names(source: str) -> list[str]:
    """Top-level names a cell defines (functions, classes, assignments; imports left out)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    return list(dict.fromkeys(names))


def _meta(cell: Any) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _is_check(cell: Any) -> bool:
    meta = _meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def worker_cells(submission: Any) -> list[dict]:
    """The submission's code cells the worker runs: all but the check cells (nbgrader's locked tests)."""
    return [{"index": i, "source": c.source} for i, c in enumerate(submission.cells)
            if c.cell_type == "code" and not _is_check(c) and c.source.strip()]  # fmt: skip


@dataclass
class Verdict:
    passed: bool
    message: str = ""
    output: str = ""


@dataclass
class Judgement:
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sandboxed: bool = False


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    if err.__class__.__name__ == "CheckFailed":
        return text[0] if text else "check failed"
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def judge(source: Any, submission: Any, kit_src: Path, work: Path, cell_timeout: float = 60,
          sandbox: bool = True, hide: tuple[Path, ...] = ()) -> Judgement:  # fmt: skip
    """Run ``source`` (make_source: solutions, hidden tests) here with the submission's objects bound in."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    client = WorkerClient(worker_cells(submission), kit_src, work, cell_timeout, sandbox, list(hide))
    out = Judgement(sandboxed=sandbox)
    shell = InteractiveShell.instance()
    ns = shell.user_ns
    setup_names: set[str] = set()

    def alarm(signum: int, frame: Any) -> None:
        raise JudgeTimeout(f"the check did not finish within {2 * cell_timeout:g} s")

    signal.signal(signal.SIGALRM, alarm)
    try:
        client.start()
        for cell in source.cells:
            if cell.cell_type != "code":
                continue
            meta = _meta(cell)
            if meta.get("solution"):
                # only the names the *lab's* solution defines: a name the student's cell also assigns (a
                # checker rebound, numpy shadowed) is never taken from the worker
                for name in defined_names(cell.source):
                    try:
                        ns[name] = client.get(name)
                    except NameError:
                        ns.pop(name, None)
                    except Exception as err:  # noqa: BLE001 - e.g. an answer that is not plain data
                        ns[name] = _Unusable(name, _short(err))
                continue
            client.shared = _shared(ns, setup_names)
            signal.setitimer(signal.ITIMER_REAL, 2 * cell_timeout)
            try:
                with capture_output() as captured:
                    result = shell.run_cell(cell.source, store_history=False, silent=False)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if _is_check(cell):
                err = result.error_in_exec or result.error_before_exec
                out.verdicts[meta["grade_id"]] = Verdict(err is None, "" if err is None else _short(err),
                                                         captured.stdout[-4000:])  # fmt: skip
            else:
                setup_names.update(defined_names(cell.source))
    finally:
        client.stop()
    out.notes += client.notes
    return out


def _shared(ns: dict, names: set[str]) -> dict[int, Global]:
    """The setup cells' objects the worker has too, by id: each model with its submodules and parameters
    (a checker hooks ``model.layer4``: it must be the worker's own layer of the worker's own model)."""
    out: dict[int, Global] = {}
    for name in sorted(names):
        if name not in ns or not _shareable(ns[name]):
            continue
        value = ns[name]
        out[id(value)] = Global(name)
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(value, torch.nn.Module):
            for path, sub in value.named_modules():
                out.setdefault(id(sub), Global(name, path))
            for path, parameter in value.named_parameters():
                out.setdefault(id(parameter), Global(name, path))
    return out


def _shareable(value: Any) -> bool:
    """Whether a setup cell's value is sent as the worker's own copy (:class:`~.rpc.Global`): models and
    other objects, loaded by the same cell on both sides; data is sent as it is here (the student's later
    cells may have changed the worker's)."""
    import numpy as np
    import pandas as pd

    plain = (np.ndarray, np.generic, pd.DataFrame, pd.Series, pd.Index, list, tuple, dict, set, frozenset,
             str, bytes, int, float, complex, bool, type(None), types.ModuleType, type)  # fmt: skip
    torch = sys.modules.get("torch")
    return not isinstance(value, plain) and not (torch is not None and isinstance(value, torch.Tensor)) \
        and not callable(getattr(value, "__func__", None)) and not isinstance(value, types.FunctionType)


class _Unusable:
    """What the judge binds for a name whose value could not be brought over (not plain data, say)."""

    def __init__(self, name: str, why: str) -> None:
        self.name, self.why = name, why

    def __repr__(self) -> str:
        return f"<{self.name}: {self.why}>"


def run(source_path: Path, submission_path: Path, kit_src: Path, work: Path, out: Path, *,
        cell_timeout: float, timeout: float, sandbox: bool, hide: list[Path]) -> Judgement:  # fmt: skip
    """Run the judge in a fresh process (the full repository, real references) and read its verdicts;
    a judge that fails or runs past ``timeout`` gives no verdict (every check then scores 0)."""
    from xaihealth.instructor.autograde import _kill_tree

    command = [sys.executable, "-m", "xaihealth.instructor.judge", str(source_path), str(submission_path),
               str(kit_src), str(work), str(out), "--cell-timeout", str(cell_timeout)]  # fmt: skip
    command += ["--sandbox"] if sandbox else []
    for folder in hide:
        command += ["--hide", str(folder)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("XAIHEALTH_") or k == "XAIHEALTH_DATASETS"}
    env.update(XAIHEALTH_OFFLINE="1", HF_HUB_OFFLINE="1", TQDM_DISABLE="1", MPLBACKEND="Agg",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    out.unlink(missing_ok=True)
    log = work / "judge.log"
    with open(log, "w", encoding="utf-8") as stream:
        process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT, env=env, cwd=work,
                                   start_new_session=True)  # fmt: skip
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(process.pid)
            process.wait()
            return Judgement(notes=[f"judge: stopped after {timeout:g} s; no check was judged"])
    if not out.is_file():
        tail = log.read_text(encoding="utf-8", errors="replace")[-600:]
        return Judgement(notes=[f"judge: failed, no check was judged ({tail.strip()[-300:]})"])
    data = json.loads(out.read_text(encoding="utf-8"))
    return Judgement({g: Verdict(**v) for g, v in data["verdicts"].items()}, data["notes"], data["sandboxed"])


def main(argv: list[str] | None = None) -> int:
    import nbformat

    parser = argparse.ArgumentParser(description="judge one submission (run by make grade)")
    parser.add_argument("source", type=Path)
    parser.add_argument("submission", type=Path)
    parser.add_argument("kit", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--cell-timeout", type=float, default=60)
    parser.add_argument("--sandbox", action="store_true")
    parser.add_argument("--hide", type=Path, action="append", default=[])
    args = parser.parse_args(argv)
    from xaihealth.checks import _core
    from xaihealth.instructor import integrity

    # the student's functions run in the worker: a spy here cannot see them (see gradients._hook_log)
    _core.STUDENT_CODE_ELSEWHERE = integrity.STUDENT_CODE_ELSEWHERE = True
    source = nbformat.read(args.source, as_version=4)
    submission = nbformat.read(args.submission, as_version=4)
    result = judge(source, submission, args.kit, args.work, args.cell_timeout, args.sandbox, tuple(args.hide))
    data = {"verdicts": {g: asdict(v) for g, v in result.verdicts.items()}, "notes": result.notes,
            "sandboxed": result.sandboxed}  # fmt: skip
    args.out.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
