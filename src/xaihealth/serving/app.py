"""The prediction service (FastAPI): answer at once, explain later.

- ``POST /predict``: validates the case (pydantic; a bad field -> 422 whose ``detail`` names it), predicts
  with the served model, archives the prediction, enqueues ``explain(id)`` and answers the prediction with
  its id and ``"explanation": "pending"``. If the queue cannot take the job, the prediction is still
  archived and answered (``"explanation": "not queued"``), and the worker's periodic sweep queues it
  once the queue is back: an accepted prediction is never lost.
- ``GET /explanations/{id}``: ``pending`` until the worker has archived the explanation, then ``done``
  with it; 404 for an unknown id.
- ``POST /feedback``: a clinician's verdict on a prediction, archived (comment masked); 404 if unknown.
- ``GET /health``: the profile and the served models (name, version, sha256).

Start it with ``uvicorn --factory xaihealth.serving.app:create_app`` (``make serve`` starts it with the
worker); the settings come from the environment (:func:`xaihealth.serving.config.settings_from_env`).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator

from xaihealth.serving.config import Settings, settings_from_env
from xaihealth.serving.worker import Runtime, build_worker, runtime

IMAGE_SIZE = 64
log = logging.getLogger(__name__)
Binary = Literal[0, 1]
Site = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="the hospital of the record")]
PatientId = Annotated[str, Field(min_length=1, max_length=64, description="pseudonymised before storage")]
Note = Annotated[str | None, Field(default=None, max_length=4000, description="masked before storage")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CardioFeatures(Strict):
    """One patient of the cardiovascular cohort (units of ``datasets/cardio_cohort.md``)."""

    age: float = Field(ge=18, le=110, description="years")
    male: Binary
    bmi: float = Field(ge=10, le=80, description="kg/m^2")
    sbp: float = Field(ge=60, le=260, description="systolic blood pressure, mmHg")
    chol: float = Field(ge=1, le=15, description="total cholesterol, mmol/L")
    smoker: Binary
    diabetes: Binary
    qtc: float = Field(ge=300, le=700, description="corrected QT interval, ms")
    qt_drug: Binary
    site: Literal[0, 1, 2, 3] = Field(description="the cohort's hospital code, a model feature")


class CardioCase(Strict):
    model: Literal["cardio"]
    patient_id: PatientId
    site: Site
    note: Note = None
    features: CardioFeatures


class CXRCase(Strict):
    model: Literal["cxr"]
    patient_id: PatientId
    site: Site
    note: Note = None
    image: list[list[float]] = Field(description=f"{IMAGE_SIZE}x{IMAGE_SIZE} grey levels in [0, 1]")

    @field_validator("image")
    @classmethod
    def _square_unit_image(cls, image: list[list[float]]) -> list[list[float]]:
        if len(image) != IMAGE_SIZE or any(len(row) != IMAGE_SIZE for row in image):
            raise ValueError(f"image must be {IMAGE_SIZE} rows of {IMAGE_SIZE} values")
        if any(not 0.0 <= v <= 1.0 for row in image for v in row):
            raise ValueError("image values must lie in [0, 1]")
        return image


Case = Annotated[CardioCase | CXRCase, Field(discriminator="model")]


class FeedbackIn(Strict):
    prediction_id: str = Field(min_length=1, max_length=32)
    agrees: bool
    correct_label: Binary | None = None
    comment: Note = None


def _inputs(case: CardioCase | CXRCase) -> dict[str, Any]:
    return case.features.model_dump() if isinstance(case, CardioCase) else {"image": case.image}


def create_app(
    settings: Settings | None = None, *, rt: Runtime | None = None, explain: Any = None
) -> FastAPI:
    """The app for ``settings`` (default: from the environment); ``rt``/``explain`` may be given (tests)."""
    settings = settings_from_env() if settings is None else settings
    rt = runtime(settings) if rt is None else rt
    explain = build_worker(settings)[1] if explain is None else explain
    app = FastAPI(title="xaihealth serving (module 07)", version="0.1")

    @app.get("/health")
    def health() -> dict[str, Any]:
        cards = {name: vars(model.card) for name, model in rt.models.items()}
        return {"status": "ok", "profile": settings.profile, "models": cards}

    @app.post("/predict")
    def predict(case: Case) -> dict[str, Any]:
        model = rt.models.get(case.model)
        if model is None:
            raise HTTPException(404, f"model {case.model!r} is not served here; served: {sorted(rt.models)}")
        inputs = _inputs(case)
        output = model.predict(inputs)
        prediction_id = rt.archive.record_prediction(
            model=model.card, inputs=inputs, patient_id=case.patient_id, site=case.site, output=output,
            note=case.note,
        )  # fmt: skip
        status = "pending"
        try:
            explain(prediction_id)
        except Exception:  # the queue is down: the prediction stands, the worker's sweep queues it later
            log.exception("explanation of %s not queued", prediction_id)
            status = "not queued"
        return {"id": prediction_id, "model": vars(model.card), **output, "explanation": status}

    @app.get("/explanations/{prediction_id}")
    def explanation(prediction_id: str) -> dict[str, Any]:
        if rt.archive.prediction(prediction_id) is None:
            raise HTTPException(404, f"no prediction with id {prediction_id!r}")
        row = rt.archive.explanation(prediction_id)
        if row is None:
            return {"id": prediction_id, "status": "pending"}
        keep = ("method", "parameters", "background_sha256", "attributions", "latency_ms")
        return {"id": prediction_id, "status": "done", "explanation": {k: row[k] for k in keep}}

    @app.post("/feedback", status_code=201)
    def feedback(item: FeedbackIn) -> dict[str, Any]:
        if rt.archive.prediction(item.prediction_id) is None:
            raise HTTPException(404, f"no prediction with id {item.prediction_id!r}")
        row_id = rt.archive.record_feedback(
            item.prediction_id, agrees=item.agrees, correct_label=item.correct_label, comment=item.comment
        )
        return {"id": row_id, "prediction_id": item.prediction_id}

    return app
