"""The two views: the doctor's page and the data scientist's monitoring page (Jinja2, served by the app).

Both pages are plain HTML with a small inline script (no CDN, no external JavaScript): they ask for the
token in a form, keep it in ``sessionStorage`` and call the JSON API with ``Authorization: Bearer``, so
the roles and the site scoping are the API's (:mod:`xaihealth.serving.app`), not the page's.

- ``GET /doctor``: a cardio case form; on submit the estimated risk at once, in words and a band, then,
  polling ``/explanations/{id}``, the factors that pushed this patient's estimate up or down, largest
  first (:func:`explanation_in_words`), and a feedback form (``POST /feedback``).
- ``GET /monitor`` and its JSON ``GET /monitor/data`` (data-scientist token; a doctor -> 403): latency of
  predictions and explanations, queue depth, input drift of the recent cardio cases against the model's
  training data, explanation drift, calibration of labelled cases, feedback (:func:`monitor_data`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from xaihealth.serving import monitor
from xaihealth.serving.archive import Explanation, Feedback, Prediction
from xaihealth.serving.config import DEFAULT_SITES, Access
from xaihealth.serving.models import CARDIO_FEATURES

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
# 10-year risk bands of the Framingham-based ATP III guideline (NCEP 2002): < 10 %, 10-20 %, > 20 %.
RISK_BANDS = ((0.10, "low"), (0.20, "moderate"), (1.0, "high"))
HARDLY = 0.05  # |log-odds| below this: the factor "hardly changes" the estimate
RECENT = 200  # the input-drift window: the latest cardio predictions
DRIFT_STEP = 25  # drift uses the latest multiple of this many cases (a threshold per size, cached)
EXPLAIN_WINDOW = 50  # explanations per explanation-drift window
LATEST_COMMENTS = 5

_WORDS: dict[str, Callable[[float], str]] = {
    "age": lambda v: f"age {v:g} years",
    "male": lambda v: "male sex" if v else "female sex",
    "bmi": lambda v: f"body-mass index {v:g} kg/m²",
    "sbp": lambda v: f"systolic blood pressure {v:g} mmHg",
    "chol": lambda v: f"total cholesterol {v:g} mmol/L",
    "smoker": lambda v: "smoker" if v else "non-smoker",
    "diabetes": lambda v: "diabetes" if v else "no diabetes",
    "qtc": lambda v: f"corrected QT interval {v:g} ms",
    "qt_drug": lambda v: "takes a QT-prolonging drug" if v else "no QT-prolonging drug",
    "site": lambda v: f"hospital code {v:g} (where the patient was seen, not a trait of the patient)",
}
FEATURE_FORM = (  # name, label, default, step (the ranges are the API's, app.CardioFeatures)
    ("age", "Age (years)", 70, 0.1), ("male", "Male (1) / female (0)", 1, 1), ("bmi", "BMI (kg/m²)", 31, 0.1),
    ("sbp", "Systolic blood pressure (mmHg)", 150, 1), ("chol", "Total cholesterol (mmol/L)", 6.2, 0.1),
    ("smoker", "Smoker (1/0)", 1, 1), ("diabetes", "Diabetes (1/0)", 0, 1), ("qtc", "QTc (ms)", 430, 1),
    ("qt_drug", "QT-prolonging drug (1/0)", 0, 1), ("site", "Hospital code (0-3)", 2, 1),
)  # fmt: skip


#: Said on the monitor page and in ``/monitor/data``: whose labels the calibration panel uses.
SELECTED_SAMPLE = ("labels come from the cases clinicians chose to give feedback on: the ECE is of that "
                   "selected sample, not the model's calibration on all patients")

def explanation_in_words(inputs: dict[str, Any], values: dict[str, float]) -> list[dict[str, Any]]:
    """The cardio explanation as sentences, largest |attribution| first: ``{"feature", "text",
    "effect" ("raises" / "lowers" / "hardly changes"), "log_odds"}``."""
    unknown = sorted(set(values) - set(_WORDS))
    if unknown:
        raise ValueError(f"values has features {unknown} that are not cardio features {sorted(_WORDS)}")
    out = []
    for feature, value in sorted(values.items(), key=lambda item: -abs(item[1])):
        effect = "hardly changes" if abs(value) < HARDLY else "raises" if value > 0 else "lowers"
        text = f"{_WORDS[feature](float(inputs[feature]))}: {effect} the estimated risk"
        out.append({"feature": feature, "text": text, "effect": effect, "log_odds": float(value)})
    return out


def _latest_labels(feedback: list[dict[str, Any]]) -> tuple[list[float], list[int]]:
    """Risk and label of each cardio prediction with a ``correct_label``, the latest verdict winning."""
    labelled = [f for f in feedback if f["model_name"] == "cardio" and f["correct_label"] is not None]
    latest = {f["prediction_id"]: f for f in labelled if f["risk"] is not None}
    return [f["risk"] for f in latest.values()], [int(f["correct_label"]) for f in latest.values()]


def monitor_data(rt: Any, queue: Any = None, *, cache: dict | None = None) -> dict[str, Any]:
    """The data scientist's page as JSON, from the archive of ``rt`` and the huey ``queue``."""
    import pandas as pd

    archive = rt.archive
    predictions = archive.recent_predictions(RECENT, model_name="cardio")
    explanations = archive.recent_explanations(10 * EXPLAIN_WINDOW, model_name="cardio")
    feedback = archive.recent_feedback(1000)
    used = len(predictions) // DRIFT_STEP * DRIFT_STEP
    drift: dict[str, Any] = {"n": len(predictions), "used": used, "min_cases": DRIFT_STEP, "features": [],
                             "reference": "make_cardio_cohort(2000, seed=0), the model's training data"}
    if used:
        recent = pd.DataFrame([p["inputs"] for p in predictions[-used:]])
        drift["features"] = monitor.input_drift(monitor.cardio_reference(), recent, list(CARDIO_FEATURES),
                                                cache=cache)  # fmt: skip
    rows = [{"created_at": e["created_at"], "values": e["attributions"]["values"]} for e in explanations]
    risks, labels = _latest_labels(feedback)
    try:
        pending = None if queue is None else int(queue.pending_count())
    except Exception:  # the queue is down: say so rather than fail the page
        pending = None
    comments = [{"created_at": f["created_at"].isoformat(), "site": f["site"], "agrees": f["agrees"],
                 "correct_label": f["correct_label"], "comment": f["comment"]}
                for f in reversed(feedback) if f["comment"]][:LATEST_COMMENTS]  # fmt: skip
    return {
        "generated_at": datetime.now(UTC).isoformat(),
        "counts": {t.__tablename__: archive.count(t) for t in (Prediction, Explanation, Feedback)},
        "latency_ms": {"predict": monitor.latency_summary(p["latency_ms"] for p in predictions),
                       "explain": monitor.latency_summary(e["latency_ms"] for e in explanations)},
        "queue": {"pending": pending},
        "input_drift": drift,
        "explanation_drift": {"window": EXPLAIN_WINDOW,
                              "windows": monitor.explanation_drift(rows, EXPLAIN_WINDOW)},
        "calibration": {**monitor.calibration(risks, labels), "min_labels": monitor.MIN_LABELS,
                        "sample": SELECTED_SAMPLE},
        "feedback": {"agree": sum(f["agrees"] for f in feedback),
                     "disagree": sum(not f["agrees"] for f in feedback), "latest_comments": comments},
    }  # fmt: skip


def add_views(app: FastAPI, rt: Any, auth: Any, *, queue: Any = None) -> None:
    """Add ``/doctor``, ``/monitor`` and ``/monitor/data`` to ``app``; ``auth`` is the app's token
    dependency (``Depends``) and ``queue`` the huey instance whose pending jobs the page counts."""
    thresholds: dict = {}  # the no-drift PSI thresholds, per feature and sample size

    @app.get("/doctor", response_class=HTMLResponse, include_in_schema=False)
    def doctor_page(request: Request) -> HTMLResponse:
        context = {"features": FEATURE_FORM, "sites": DEFAULT_SITES, "bands": RISK_BANDS}
        return TEMPLATES.TemplateResponse(request, "doctor.html", context)

    @app.get("/monitor", response_class=HTMLResponse, include_in_schema=False)
    def monitor_page(request: Request) -> HTMLResponse:
        context = {"rule": monitor.RULE_OF_THUMB, "recent": RECENT}
        return TEMPLATES.TemplateResponse(request, "monitor.html", context)

    @app.get("/monitor/data")
    def monitor_json(caller: Access = auth) -> dict[str, Any]:
        if caller.role != "data_scientist":
            raise HTTPException(403, f"the monitoring page needs the data_scientist role, not {caller.role}")
        return monitor_data(rt, queue, cache=thresholds)
