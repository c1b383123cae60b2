"""Module 07's service: predictions answered at once, explanations computed by a worker, all archived.

Design note (issue 18; DESIGN §14). One sitting's reading, one concern per module:

- :mod:`~xaihealth.serving.config`: the profile from ``XAIHEALTH_*`` environment variables: *embedded*
  (SQLite archive + SqliteHuey queue, the default, nothing to install) or *production* (PostgreSQL +
  Redis); validated before anything starts.
- :mod:`~xaihealth.serving.privacy`: keyed pseudonyms of patient ids (HMAC-SHA256) and masking of names,
  dates, phone numbers and record numbers in free text (regular expressions).
- :mod:`~xaihealth.serving.planted`: generated notes with planted identifiers and their spans, to measure
  the masking's precision and recall.
- :mod:`~xaihealth.serving.archive`: the audit archive (SQLAlchemy 2): predictions, explanations,
  feedback; append-only (ORM guard + database triggers); one explanation per prediction, idempotently.
- :mod:`~xaihealth.serving.models`: the served models, each with ``predict`` and ``explain``: the cohort's
  gradient-boosted trees (TreeSHAP) and the radiograph ResNet ``cxr_control`` (Integrated Gradients),
  with the name, version and sha256 that the archive records.
- :mod:`~xaihealth.serving.worker`: the huey task ``explain(prediction_id)`` and the process runtime.
- :mod:`~xaihealth.serving.app`: the FastAPI app (``/predict``, ``/explanations/{id}``, ``/feedback``).

A request's path: ``POST /predict`` -> pydantic validates (422 names a bad field) -> the model predicts ->
the archive stores the prediction (pseudonymised patient, masked note, input and its sha256, model sha256)
-> ``explain(id)`` goes on the queue -> the answer (risk, id, ``pending``) returns. A huey consumer takes
the job, reads the inputs back from the archive, checks their sha256 and the model's, explains and
archives the explanation once; ``GET /explanations/{id}`` turns ``done``. A failed job is retried; a lost
one (worker killed mid-job, queue down) is queued again by the worker's periodic sweep.

Next parts (not here yet): the doctor's and data scientist's views (Jinja2, two roles with tokens, drift
and calibration panels); the production profile exercised in CI (``.ci/run`` starting redis-server and
postgresql, the integration tests on both profiles); the fault tests (kill -9 of a worker mid-job, which
the sweep must recover, a database restart, a flood of bad requests); the bench (``make bench-serving``
-> ``benchmarks/serving.md``: predict p50/p99 under load with a saturated queue vs explanations computed
inline, the explain/predict cost ratio); the lecture and the lab.
"""
