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

Also, one concern each: :mod:`~xaihealth.serving.monitor` (PSI against its no-drift null at the sample
size, KS, explanation drift, calibration, latency percentiles), :mod:`~xaihealth.serving.views` with
``templates/`` (the doctor's page ``/doctor`` and the data scientist's ``/monitor``; every API route but
``/health`` needs a bearer token of one of two roles, :mod:`~xaihealth.serving.config`),
:mod:`~xaihealth.serving.serve` (``make serve``: the app and N huey consumers) and
:mod:`~xaihealth.serving.bench` (``make bench-serving`` -> ``benchmarks/serving.md``: predict latency
under load with a saturated queue against explanations computed inline, the explain/predict cost ratio).
Tests: ``tests/test_serving_*.py`` (the production profile and the fault tests run on PostgreSQL and
Redis when ``.ci/run`` starts them); the lecture ``notebooks/07_serving.py`` and the lab
``solutions/07_serving_lab.py``.
"""
