"""Both profiles end to end: ``python -m xaihealth.serving`` (what ``make serve`` runs) starts a real uvicorn
and real huey consumers on a free port, cases go pending -> done, each explanation is archived once, and
everything stops together.

- embedded: SQLite archive, SqliteHuey queue, one consumer;
- production: PostgreSQL archive, Redis queue, two consumer processes (``--consumers 2``), on the test
  services of ``tests/serving_profiles.py`` (``.ci/run`` starts them; under CI their absence fails).
"""

import subprocess
import sys

import httpx
import pytest
import serving_profiles as sp
import sqlalchemy as sa
from helpers import ROOT

from xaihealth.serving.archive import Explanation, Prediction

EXPLAIN_S = 60
N_CASES = 6


@pytest.mark.parametrize("profile", sp.PROFILES)
def test_make_serve_runs_app_and_workers_end_to_end(profile, tmp_path):
    consumers = 1 if profile == "embedded" else 2
    with sp.profile_env(profile, tmp_path) as env:
        port = sp.free_port()
        base, auth = f"http://127.0.0.1:{port}", sp.doctor(env)
        service = sp.Processes(env, tmp_path)
        service.start("serve", [sys.executable, "-m", "xaihealth.serving", "--port", str(port),
                                "--consumers", str(consumers)])  # fmt: skip
        try:
            service.wait_until(lambda: httpx.get(f"{base}/health").status_code == 200, sp.START_S, "app",
                               alive=("serve",))  # fmt: skip
            assert httpx.get(f"{base}/health").json()["profile"] == profile
            assert httpx.post(f"{base}/predict", json=sp.CASE).status_code == 401  # no token
            bad = httpx.post(f"{base}/predict", json=dict(sp.CASE, site="a b"), headers=auth)
            assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "site"
            cases = [dict(sp.CASE, patient_id=f"MRN 555{n:04d}",
                          features=dict(sp.CASE["features"], age=40.0 + 5 * n)) for n in range(N_CASES)]
            bodies = [httpx.post(f"{base}/predict", json=case, headers=auth).json() for case in cases]
            assert {b["explanation"] for b in bodies} == {"pending"}
            assert all(0 < b["risk"] < 1 for b in bodies) and len({b["risk"] for b in bodies}) == N_CASES
            urls = [f"{base}/explanations/{b['id']}" for b in bodies]

            def all_done():
                return all(httpx.get(url, headers=auth).json()["status"] == "done" for url in urls)

            service.wait_until(all_done, sp.START_S + EXPLAIN_S, "explanations", alive=("serve",))
            methods = {httpx.get(url, headers=auth).json()["explanation"]["method"] for url in urls}
            assert methods == {"shap.TreeExplainer"}
        finally:
            code = service.stop_all()["serve"]
        output = service.log("serve")
        assert code == 0, output[-4000:]
        assert output.count("Consumer exiting") == consumers, output[-4000:]  # every consumer stopped
        assert "Application shutdown complete" in output
        store = sp.archive(env)
        assert (store.count(Prediction), store.count(Explanation)) == (N_CASES, N_CASES)
        with store.engine.connect() as connection:  # once each: one explanation per prediction id
            per_prediction = connection.execute(
                sa.select(Explanation.prediction_id, sa.func.count()).group_by(Explanation.prediction_id)
            ).all()
            rows = connection.execute(sa.select(Prediction.patient_pseudonym, Prediction.note)).all()
        assert sorted(pid for pid, _ in per_prediction) == sorted(b["id"] for b in bodies)
        assert {n for _, n in per_prediction} == {1}
        store.engine.dispose()
        assert not any("MRN" in str(row) for row in rows)
        if profile == "embedded":
            stored = b"".join(p.read_bytes() for p in tmp_path.glob("*.sqlite*"))  # archive and queue files
            assert b"MRN 555" not in stored


def test_when_one_process_dies_the_others_are_stopped_and_the_launch_fails(tmp_path):
    with sp.profile_env("embedded", tmp_path) as env, sp.busy_port() as port:  # the app cannot bind its port
        done = subprocess.run([sys.executable, "-m", "xaihealth.serving", "--port", str(port)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=sp.START_S)  # fmt: skip
    assert done.returncode != 0
    assert "app exited" in done.stderr and "stopped the others" in done.stderr, done.stderr[-2000:]

