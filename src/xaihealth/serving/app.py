"""The prediction service (FastAPI): answer at once, explain later.

Every route but ``GET /health`` and the two pages needs ``Authorization: Bearer <token>``, a token of
``Settings.tokens`` (:mod:`xaihealth.serving.config`): missing or unknown -> 401. A *doctor* token belongs
to one site: it may post cases and feedback of that site only (another site -> 403) and read only that
site's records (another site's id -> 404, as if it did not exist). A *data scientist* token posts nothing
(403), reads every site's explanations and is the only one that reads ``/monitor/data`` (a doctor -> 403).

- ``POST /predict``: validates the case (pydantic; a bad field -> 422 whose ``detail`` names it), predicts
  with the served model, archives the prediction, enqueues ``explain(id)`` and answers the prediction
  with its id, ``latency_ms`` and ``"explanation": "pending"``. If the queue cannot take the job, the
  prediction is still archived and answered (``"explanation": "not queued"``), and the worker's periodic
  sweep queues it once the queue is back: an accepted prediction is never lost. ``latency_ms`` (also
  archived) is the time from the validated request to the answer's content being ready: the model's
  prediction (and, inline, its explanation); the archive insert and the enqueue that follow it are not in
  it, since the row is written once.
- Inline mode (``create_app(..., inline=True)``): the design the queue replaces, kept for the bench: the
  request computes the explanation itself, archives both and answers ``"explanation": "done"``.
- ``GET /explanations/{id}``: ``pending`` until the worker has archived the explanation, then ``done``
  with it (and, for the cardio model, ``in_words``: the factors in sentences, largest first); 404 for an
  unknown id.
- ``POST /feedback``: a clinician's verdict on a prediction, archived (comment masked); 404 if unknown.
- ``GET /health``: the profile and the served models (name, version, sha256); no token.
- ``GET /doctor``, ``GET /monitor`` (pages, which ask for the token) and ``GET /monitor/data`` (the
  monitoring JSON): :mod:`xaihealth.serving.views`.

Start it with ``uvicorn --factory xaihealth.serving.app:create_app`` (``make serve`` starts it with the
worker); the settings come from the environment (:func:`xaihealth.serving.config.settings_from_env`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import DBAPIError

from xaihealth.serving.config import SITE_PATTERN, Access, Settings, settings_from_env
from xaihealth.serving.views import add_views, explanation_in_words
from xaihealth.serving.worker import Runtime, build_worker, runtime

IMAGE_SIZE = 64
MAX_BODY_BYTES = 1_000_000  # a 64 x 64 image as JSON is ~60 kB; a larger body is refused (413) unread
log = logging.getLogger(__name__)
Binary = Literal[0, 1]
Site = Annotated[str, Field(pattern=SITE_PATTERN, description="the hospital of the record")]
PatientId = Annotated[str, Field(min_length=1, max_length=64, description="pseudonymised before storage")]
Note = Annotated[str | None, Field(default=None, max_length=4000, description="masked before storage")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN passes ge/le: refuse it here


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


def bearer_access(tokens: dict[str, Access]) -> Callable[..., Access]:
    """The FastAPI dependency that turns ``Authorization: Bearer <token>`` into its :class:`Access`."""
    bearer = Depends(HTTPBearer(auto_error=False, description="a token of XAIHEALTH_SERVING_TOKENS"))

    # Looked up by sha256 digest: the dict lookup compares digests (all 32 bytes long), not the tokens, so
    # neither a token's length nor how far a guess matches it shows in the time taken (a linear scan
    # with compare_digest leaked both: the position of the match and, per pair, unequal lengths).
    by_digest = {hashlib.sha256(t.encode()).digest(): a for t, a in tokens.items()}

    def access(credentials: HTTPAuthorizationCredentials | None = bearer) -> Access:
        given = "" if credentials is None else credentials.credentials
        found = by_digest.get(hashlib.sha256(given.encode()).digest())
        if found is None:
            reason = "missing bearer token" if credentials is None else "unknown token"
            raise HTTPException(401, reason, headers={"WWW-Authenticate": "Bearer"})
        return found

    return access


def require_role(access: Access, role: str) -> None:
    """403 unless ``access`` has ``role``."""
    if access.role != role:
        raise HTTPException(403, f"this needs the {role} role; the token's role is {access.role}")


def visible(access: Access, record: dict[str, Any] | None, what: str, record_id: str) -> dict[str, Any]:
    """``record`` if ``access`` may see it; else 404, also for another site's (its existence not leaked)."""
    if record is None or (access.site is not None and record["site"] != access.site):
        raise HTTPException(404, f"no {what} with id {record_id!r}")
    return record


def _finite(value: Any) -> Any:
    """``value`` with each NaN or infinity written as text (JSON has no number for them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 naming the field (``loc``) and the rule (``msg``), without echoing the refused input:
    the body may hold a raw patient id or a note with names, which no answer (or log of answers) should
    carry back. Also when the input was NaN or infinite (FastAPI's default answer cannot encode it)."""
    errors = [{k: v for k, v in e.items() if k not in ("input", "url")} for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": _finite(jsonable_encoder(errors))})


async def _archive_down(request: Request, exc: DBAPIError) -> JSONResponse:
    """503 when the archive's database cannot be reached: nothing was recorded, the client may retry (a
    prediction is answered only once it is archived). The connection stays usable."""
    log.error("archive unavailable: %s", type(exc.orig).__name__ if exc.orig is not None else exc)
    return JSONResponse(status_code=503, headers={"Retry-After": "5"},
                        content={"detail": "the audit archive is unavailable: nothing was recorded; retry"})


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is a 413, by its Content-Length or as it
    streams in (a chunked body), before the app reads or parses it."""

    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.limit:
            return await self._refuse(send)
        seen, started = 0, False

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:  # FastAPI passes an HTTPException raised while reading the body through
                raise HTTPException(413, self.detail)
            return message

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except HTTPException:
            if not started:
                await self._refuse(send)

    @property
    def detail(self) -> str:
        return f"the request body is over the limit of {self.limit} bytes"

    async def _refuse(self, send: Callable) -> None:
        body = json.dumps({"detail": self.detail}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})


def create_app(
    settings: Settings | None = None, *, rt: Runtime | None = None, explain: Any = None, inline: bool = False
) -> FastAPI:
    """The app for ``settings`` (default: from the environment); ``rt``/``explain`` may be given (tests).

    ``inline=True`` explains in the request instead of queuing (the design the queue replaces)."""
    settings = settings_from_env() if settings is None else settings
    if not isinstance(inline, bool):
        raise TypeError(f"inline={inline!r} must be True or False")
    if not settings.tokens:
        log.warning("no access tokens in the settings: every request but /health will be refused (401)")
    if settings.tokens_path:  # what `make serve` prints: where the embedded profile's tokens are
        print(f"xaihealth serving: access tokens (doctor per site, data scientist) in {settings.tokens_path}",
              flush=True)  # fmt: skip
    rt = runtime(settings) if rt is None else rt
    explain = build_worker(settings)[1] if explain is None and not inline else explain
    app = FastAPI(title="xaihealth serving (module 07)", version="0.2")
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _archive_down)
    app.add_middleware(BodyLimit)
    auth = Depends(bearer_access(dict(settings.tokens)))  # the caller's Access, or 401

    @app.get("/health")
    def health() -> dict[str, Any]:
        cards = {name: vars(model.card) for name, model in rt.models.items()}
        return {"status": "ok", "profile": settings.profile, "models": cards}

    @app.post("/predict")
    def predict(case: Case, caller: Access = auth) -> dict[str, Any]:
        start = time.perf_counter()
        require_role(caller, "doctor")
        if case.site != caller.site:
            raise HTTPException(403, f"this token posts cases of site {caller.site!r}, not {case.site!r}")
        model = rt.models.get(case.model)
        if model is None:
            raise HTTPException(404, f"model {case.model!r} is not served here; served: {sorted(rt.models)}")
        inputs = _inputs(case)
        output = model.predict(inputs)
        explained = None
        if inline:  # the design the queue replaces: the doctor waits for the explanation too
            t0 = time.perf_counter()
            explained = model.explain(inputs)
            explain_ms = (time.perf_counter() - t0) * 1e3
        latency_ms = (time.perf_counter() - start) * 1e3
        prediction_id = rt.archive.record_prediction(
            model=model.card, inputs=inputs, patient_id=case.patient_id, site=case.site, output=output,
            note=case.note, latency_ms=latency_ms,
        )  # fmt: skip
        if explained is not None:
            rt.archive.record_explanation(prediction_id, latency_ms=explain_ms, **explained)
            status = "done"
        else:
            status = "pending"
            try:
                explain(prediction_id)
            except Exception:  # the queue is down: the prediction stands, the worker's sweep queues it later
                log.exception("explanation of %s not queued", prediction_id)
                status = "not queued"
        return {"id": prediction_id, "model": vars(model.card), **output, "latency_ms": latency_ms,
                "explanation": status}  # fmt: skip

    @app.get("/explanations/{prediction_id}")
    def explanation(prediction_id: str, caller: Access = auth) -> dict[str, Any]:
        prediction = visible(caller, rt.archive.prediction(prediction_id), "prediction", prediction_id)
        row = rt.archive.explanation(prediction_id)
        if row is None:
            return {"id": prediction_id, "status": "pending"}
        keep = ("method", "parameters", "background_sha256", "attributions", "latency_ms")
        answer = {"id": prediction_id, "status": "done", "explanation": {k: row[k] for k in keep}}
        if prediction["model_name"] == "cardio":  # the doctor's page reads this, not the log-odds
            answer["in_words"] = explanation_in_words(prediction["inputs"], row["attributions"]["values"])
        return answer

    @app.post("/feedback", status_code=201)
    def feedback(item: FeedbackIn, caller: Access = auth) -> dict[str, Any]:
        require_role(caller, "doctor")
        visible(caller, rt.archive.prediction(item.prediction_id), "prediction", item.prediction_id)
        row_id = rt.archive.record_feedback(
            item.prediction_id, agrees=item.agrees, correct_label=item.correct_label, comment=item.comment
        )
        return {"id": row_id, "prediction_id": item.prediction_id}

    add_views(app, rt, auth, queue=getattr(explain, "huey", None))
    return app
