"""The scorecard: what each method scores against a planted truth, next to its null baselines (DESIGN §12).

A lecture notebook records a row with one call, right where it measures it::

    record(module="03", method="TreeSHAP", data="synthetic cohort (GBM)", truth="exact Shapley values",
           metric="mean |φ − φ_exact| (log-odds)", score=err, interval=(lo, hi), higher_is_better=False,
           baselines={"random attributions (same total)": err_random})

The row is only *written* when a scorecard run asks for it: ``make scorecard`` sets ``XAIHEALTH_SCORECARD``
to a file, executes the lecture notebooks and writes ``benchmarks/scorecard.md`` and its JSON twin
``benchmarks/scorecard.json``. Without the variable, :func:`record` only validates the row (so a
notebook with a malformed row fails under nbval too). The test suite points the variable at a temporary
file while nbval executes the notebooks and fails if a row's verdict differs from the committed one.

**Verdict.** A row *beats every null* when it is better than each baseline beyond doubt:

- where the null was measured on the *same cases* as the method (the same patients, films or notes), give
  the 95 % interval of the **paired difference** (method − null, e.g. from
  :func:`paired_difference`): the null is beaten when that interval excludes 0 on the better side;
- otherwise the method's 95 % interval must lie strictly on the better side of the null's own interval
  where one is given, of its value otherwise (a conservative, unpaired comparison).

``make scorecard`` also re-runs the recording notebooks with base seeds 1..5 and shows, per row, on how
many fresh draws the verdict is the same: a verdict that holds for seed 0 only is not a finding.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from xaihealth import validate

ENV = "XAIHEALTH_SCORECARD"
BEATS = "beats every null"
DOES_NOT = "does not beat every null"


@dataclass(frozen=True)
class Baseline:
    """A null: the same metric for a method or map that cannot know the truth."""

    name: str
    score: float
    low: float | None = None
    high: float | None = None
    diff_low: float | None = None  # 95 % interval of the paired difference (method − null), if paired
    diff_high: float | None = None

    @property
    def paired(self) -> bool:
        return self.diff_low is not None and self.diff_high is not None


@dataclass(frozen=True)
class Row:
    """One method × task with a planted truth, its score with a 95 % interval and its nulls."""

    module: str
    method: str
    data: str
    truth: str
    metric: str
    score: float
    low: float
    high: float
    higher_is_better: bool
    baselines: tuple[Baseline, ...] = field(default_factory=tuple)
    notebook: str = ""
    note: str = ""

    @property
    def key(self) -> str:
        """Identifies the row across runs: module · method · data · metric."""
        return " · ".join((self.module, self.method, self.data, self.metric))

    def beats(self, baseline: Baseline) -> bool:
        """Paired: does the difference's interval exclude 0 on the better side? Unpaired: does the
        interval lie strictly on the better side of the baseline (of its interval if given)?"""
        if baseline.paired:
            return baseline.diff_low > 0 if self.higher_is_better else baseline.diff_high < 0
        if self.higher_is_better:
            return self.low > (baseline.high if baseline.high is not None else baseline.score)
        return self.high < (baseline.low if baseline.low is not None else baseline.score)

    @property
    def verdict(self) -> str:
        return BEATS if all(self.beats(b) for b in self.baselines) else DOES_NOT

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["verdict"] = self.verdict
        out["key"] = self.key
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Row:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["baselines"] = tuple(Baseline(**b) for b in data.get("baselines", ()))  # type: ignore[arg-type]
        return cls(**fields)  # type: ignore[arg-type]


def _finite(name: str, value: object) -> float:
    value = validate.number(name, value)
    if not math.isfinite(value):
        raise ValueError(f"{name}={value!r} must be a finite number")
    return value


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}={value!r} must be a non-empty string")
    return value.strip()


def _interval(name: str, interval: object, score: float | None) -> tuple[float, float]:
    if not isinstance(interval, Sequence) or isinstance(interval, str) or len(interval) != 2:
        raise ValueError(f"{name}={interval!r} must be a (low, high) pair: the 95 % interval")
    low, high = _finite(f"{name}[0]", interval[0]), _finite(f"{name}[1]", interval[1])
    if low > high:
        raise ValueError(f"{name}={interval!r}: low must not exceed high")
    if score is not None and not low <= score <= high:
        raise ValueError(f"{name}={interval!r} must contain the score {score!r}")
    return low, high


def make_row(
    *,
    module: str,
    method: str,
    data: str,
    truth: str,
    metric: str,
    score: float,
    interval: Sequence[float],
    baselines: Mapping[str, float | Sequence[float]],
    higher_is_better: bool = True,
    note: str = "",
) -> Row:
    """Validate and build a row.

    A baseline is a value; or ``(value, low, high)`` with its own interval; or a dict
    ``{"score": value, "interval": (low, high), "paired": (d_low, d_high)}`` where ``paired`` is the 95 %
    interval of method − null on the same cases (``interval`` optional).
    """
    score = _finite("score", score)
    low, high = _interval("interval", interval, score)
    if not isinstance(baselines, Mapping) or not baselines:
        raise ValueError(f"baselines={baselines!r} must map at least one null baseline's name to its score")
    nulls = []
    for name, value in baselines.items():
        _text("baselines key", name)
        if isinstance(value, Mapping):
            unknown = set(value) - {"score", "interval", "paired"}
            if "score" not in value or "paired" not in value or unknown:
                raise ValueError(
                    f"baselines[{name!r}]={value!r} must have the keys 'score' and 'paired' (and optionally "
                    "'interval')"
                )
            null_score = _finite(f"baselines[{name!r}]['score']", value["score"])
            b_low, b_high = (
                _interval(f"baselines[{name!r}]['interval']", value["interval"], null_score)
                if "interval" in value
                else (None, None)
            )
            d_low, d_high = _interval(f"baselines[{name!r}]['paired']", value["paired"], None)
            nulls.append(Baseline(name, null_score, b_low, b_high, d_low, d_high))
        elif isinstance(value, Sequence) and not isinstance(value, str):
            if len(value) != 3:
                raise ValueError(f"baselines[{name!r}]={value!r} must be a value or (value, low, high)")
            b_low, b_high = _interval(f"baselines[{name!r}] interval", value[1:], _finite(name, value[0]))
            nulls.append(Baseline(name, float(value[0]), b_low, b_high))
        else:
            nulls.append(Baseline(name, _finite(f"baselines[{name!r}]", value)))
    if not isinstance(note, str):
        raise TypeError(f"note={note!r} must be a string")
    return Row(
        module=_text("module", module),
        method=_text("method", method),
        data=_text("data", data),
        truth=_text("truth", truth),
        metric=_text("metric", metric),
        score=score,
        low=low,
        high=high,
        higher_is_better=validate.boolean("higher_is_better", higher_is_better),
        baselines=tuple(nulls),
        notebook=os.environ.get("XAIHEALTH_NOTEBOOK", ""),
        note=note,
    )


def paired_difference(
    method: Sequence[float], null: Sequence[float], seed: int, n_resamples: int = 9999
) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of mean(method) − mean(null), the same cases resampled jointly."""
    import numpy as np
    from scipy import stats

    a, b = np.asarray(method, dtype=float), np.asarray(null, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or len(a) < 2:
        raise ValueError(
            f"method and null must be 1-D and of the same length >= 2 (one value per case); got shapes "
            f"{a.shape} and {b.shape}"
        )
    if np.allclose(a - b, (a - b)[0]):  # no spread: the bootstrap has nothing to resample
        d = float((a - b)[0])
        return d, d
    res = stats.bootstrap(
        (a, b),
        lambda x, y, axis=-1: x.mean(axis) - y.mean(axis),
        paired=True,
        vectorized=True,
        n_resamples=n_resamples,
        method="percentile",
        random_state=seed,
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def record(**row: object) -> None:
    """Validate a scorecard row (see :func:`make_row`); append it to ``$XAIHEALTH_SCORECARD`` if set."""
    built = make_row(**row)  # type: ignore[arg-type]
    target = os.environ.get(ENV)
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(built.to_dict(), sort_keys=True) + "\n")


def read_rows(path: Path) -> list[Row]:
    """Rows from a JSON-lines file written by :func:`record`, in the order they were recorded."""
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(Row.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError) as err:
                raise ValueError(f"{path}, line {number}: not a scorecard row ({err})") from err
    return rows


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.1e}"


def _seeds_cell(verdict: str, on_seeds: Mapping[str, str | None] | None) -> str:
    if not on_seeds:
        return "not run"
    same = [s for s, v in on_seeds.items() if v == verdict]
    differ = [s for s, v in on_seeds.items() if v is not None and v != verdict]
    missing = [s for s, v in on_seeds.items() if v is None]
    text = f"{len(same)}/{len(on_seeds)}"
    if differ:
        text += f" (differs: seed {', '.join(differ)})"
    if missing:
        text += f" (not recorded: seed {', '.join(missing)})"
    return text


def markdown(rows: Sequence[Row], on_seeds: Mapping[str, Mapping[str, str | None]] | None = None) -> str:
    """The scorecard table, rows in module order; ``on_seeds[key][seed]`` is a row's verdict on that draw."""
    lines = [
        "# Scorecard: methods against planted truth",
        "",
        "Made by `make scorecard` from the lecture notebooks' own measurements (base seed 0, the committed "
        "run). Each row: a method on a task whose truth is known, a metric, the score with its 95 % "
        "interval, the same metric for each null baseline, and the verdict — *beats every null* when the "
        "method is better than each null beyond doubt: where the null saw the same cases, the 95 % interval "
        "of the paired difference (shown as Δ) excludes 0; otherwise the method's interval lies strictly "
        "beyond the null (beyond the null's own interval where it has one). *Same verdict on fresh draws*: "
        "on how many of base seeds 1..5 the row's verdict is the same (`make scorecard` re-runs the "
        "notebooks; a row not recorded on a seed sat after a failing cell). ↑ higher is better, ↓ lower is "
        "better. `tests/test_scorecard.py` fails when a verdict of the committed run changes.",
        "",
        "| module | method | data | ground truth | metric | score [95 % CI] | null baselines | verdict "
        "| same verdict on fresh draws |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r.module, r.key)):
        nulls = "; ".join(
            f"{b.name}: {_fmt(b.score)}"
            + (f" [{_fmt(b.low)}, {_fmt(b.high)}]" if b.low is not None and b.high is not None else "")
            + (f" (Δ [{_fmt(b.diff_low)}, {_fmt(b.diff_high)}])" if b.paired else "")
            for b in r.baselines
        )
        arrow = "↑" if r.higher_is_better else "↓"
        verdict = r.verdict if r.verdict == BEATS else f"**{r.verdict}**"
        lines.append(
            f"| {r.module} | {r.method} | {r.data} | {r.truth} | {r.metric} {arrow} | "
            f"{_fmt(r.score)} [{_fmt(r.low)}, {_fmt(r.high)}] | {nulls} | {verdict} | "
            f"{_seeds_cell(r.verdict, (on_seeds or {}).get(r.key))} |"
        )
    notes = [r for r in sorted(rows, key=lambda r: (r.module, r.key)) if r.note]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {r.method} · {r.data}: {r.note}" for r in notes]
    return "\n".join(lines) + "\n"


def to_json(rows: Sequence[Row], on_seeds: Mapping[str, Mapping[str, str | None]] | None = None) -> str:
    ordered = sorted(rows, key=lambda r: (r.module, r.key))
    out = []
    for r in ordered:
        d = r.to_dict()
        d["verdict_on_seeds"] = dict((on_seeds or {}).get(r.key, {}))
        out.append(d)
    return json.dumps({"rows": out}, indent=1, sort_keys=True) + "\n"


def load_json(path: Path) -> list[Row]:
    """The committed scorecard's rows (``benchmarks/scorecard.json``)."""
    return load_json_with_seeds(path)[0]


def load_json_with_seeds(path: Path) -> tuple[list[Row], dict[str, dict[str, str | None]]]:
    """The committed rows and, per row key, its verdict on each fresh draw."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        rows = [Row.from_dict(r) for r in data["rows"]]
        seeds = {r.key: dict(d.get("verdict_on_seeds", {})) for r, d in zip(rows, data["rows"], strict=True)}
        return rows, seeds
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a scorecard JSON file ({err}); run `make scorecard`") from err
