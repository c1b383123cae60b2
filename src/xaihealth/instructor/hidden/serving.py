"""Hidden tests for lab 07 (the idempotent job, PSI, its threshold and alert, the audit query, pseudonyms).

Another archive and other predictions for the job (the faults again, on other ids); other samples, bin
counts and sizes for PSI and its threshold; other model versions, sites and windows on the planted audit
archive; other record numbers, keys and identifiers with letters for the pseudonyms.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from xaihealth.checks.serving import (
    LAB_KEY,
    WINDOW,
    graded_audit_query,
    graded_explain_job,
    plant_audit_archive,
)
from xaihealth.instructor.hidden import hidden_references
from xaihealth.instructor.integrity import exercise

refs = hidden_references("serving")


def hidden_check_explain_job(explain_job: Callable[..., Any]) -> None:
    """The planted faults of Exercise 1 on another archive with other predictions."""
    with exercise("Exercise 1 (the idempotent explanation job) (hidden tests)") as ex, \
            tempfile.TemporaryDirectory() as tmp:  # fmt: skip
        graded_explain_job(ex, explain_job, tmp, seed=77)


def hidden_check_psi(psi: Callable[..., float]) -> None:
    """Other distributions (uniform, skewed), 4 and 20 bins, a current sample of 12 rows; counts and blood
    pressures in whole mmHg (values on the edges, where the bin side shows)."""
    with exercise("Exercise 2 (the population stability index) (hidden tests)") as ex:
        rng = np.random.default_rng(121)
        for ref, cur, bins in (
            (rng.uniform(size=800), rng.uniform(0.1, 1.1, size=300), 4),
            (rng.lognormal(size=3000), rng.lognormal(0.2, size=12), 20),
            (rng.poisson(2.0, size=900).astype(float), rng.poisson(2.4, size=200).astype(float), 5),
            (np.round(rng.normal(132, 18, size=1200)), np.round(rng.normal(136, 18, size=300)), 8),
        ):
            got = float(ex.call(psi, ref, cur, bins=bins))
            want = refs.reference_psi(ref, cur, bins=bins)
            ex.expect(np.isclose(got, want, rtol=1e-9), f"with bins={bins} and {len(cur)} current rows your "
                                                        f"PSI is {got:.6f}, not {want:.6f}")  # fmt: skip


def hidden_check_psi_null_threshold(psi_null_threshold: Callable[..., float]) -> None:
    """Other n, bins, q and seeds on another reference."""
    with exercise("Exercise 3 (the no-drift threshold and the alert) (hidden tests)") as ex:
        ref = np.random.default_rng(131).standard_t(5, size=900)
        for n, bins, q, seed in ((25, 10, 0.9, 11), (400, 8, 0.99, 12)):
            got = float(ex.call(psi_null_threshold, ref, n, bins=bins, q=q, n_draws=60, seed=seed))
            want = refs.reference_psi_null_threshold(ref, n, bins=bins, q=q, n_draws=60, seed=seed)
            ex.expect(
                np.isclose(got, want, rtol=1e-9),
                f"with n={n}, bins={bins}, q={q}, seed={seed} your threshold is {got:.6f}, not {want:.6f}",
            )


def hidden_check_drift_alert(drift_alert: Callable[..., dict[str, Any]]) -> None:
    """A scale change with no mean shift (PSI sees it) and a sample of 8 rows, 5 bins, q=0.95."""
    with exercise("Exercise 3 (the no-drift threshold and the alert) (hidden tests)") as ex:
        rng = np.random.default_rng(141)
        ref = rng.normal(size=1500)
        for cur in (rng.normal(0, 1.6, size=600), rng.normal(size=8)):
            out = ex.call(drift_alert, ref, cur, bins=5, q=0.95, n_draws=80, seed=3)
            want = refs.reference_drift_alert(ref, cur, bins=5, q=0.95, n_draws=80, seed=3)
            ex.expect(
                isinstance(out, dict)
                and np.isclose(float(out["psi"]), want["psi"], rtol=1e-9)
                and np.isclose(float(out["threshold"]), want["threshold"], rtol=1e-9)
                and bool(out["alert"]) == want["alert"],
                f"with {len(cur)} rows, bins=5, q=0.95 your alert {out!r} differs from {want}",
            )


def hidden_check_audit_query(audit_query: Callable[..., Any]) -> None:
    """The decoys (the late explanation too) again on an archive of other names, window and insertion
    order; then other versions, a one-day window, a window with nothing in it, another model on the lab's
    archive."""
    with exercise("Exercise 4 (the audit query) (hidden tests)") as ex, tempfile.TemporaryDirectory() as tmp:
        lo, hi = datetime(2025, 11, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC)
        other = Path(tmp) / "other"
        other.mkdir()
        archive, records = plant_audit_archive(other, target=("sepsis-lr", "2.0.1", "east"), window=(lo, hi),
                                               old_version="2.0.0", other_model="sepsis-gbt",
                                               other_site="west", seed=5)  # fmt: skip
        graded_audit_query(ex, audit_query, archive, records, "sepsis-lr", "2.0.1", "east", lo, hi)
        graded_audit_query(ex, audit_query, archive, records, "sepsis-lr", "2.0.1", "west", lo,
                           lo + timedelta(days=20))  # fmt: skip
        archive.engine.dispose()
        archive, records = plant_audit_archive(tmp)
        start, end = WINDOW
        for name, version, site, lo, hi in (
            ("cohort-gbt", "1.1.0", "north", start, end),
            ("cohort-gbt", "1.2.0", "north", start + timedelta(days=3), start + timedelta(days=4)),
            ("cxr-resnet", "1.2.0", "north", start, end),
            ("cohort-gbt", "1.2.0", "north", end + timedelta(days=1), end + timedelta(days=30)),
        ):
            graded_audit_query(ex, audit_query, archive, records, name, version, site, lo, hi)
        archive.engine.dispose()


def hidden_check_pseudonym(pseudonym: Callable[[str, bytes], str]) -> None:
    """Other record numbers, identifiers with letters and inner spaces (kept), a 64-byte key; a key one byte
    short of 16, a str key and a blank identifier refused with a ValueError or TypeError."""
    with exercise("Exercise 5 (keyed pseudonyms) (hidden tests)") as ex:
        long_key = bytes(range(64))
        for identifier, key in (("0000001", LAB_KEY), ("x 12", long_key), (" nhs-9a ", long_key),
                                ("9999999", b"k" * 16)):  # fmt: skip
            got = ex.call(pseudonym, identifier, key)
            want = refs.reference_pseudonym(identifier, key)
            ex.expect(got == want, f"pseudonym({identifier!r}, a {len(key)}-byte key) differs from the "
                                   "HMAC-SHA256 of the stripped, upper-cased identifier")  # fmt: skip
        for identifier, key, name in (("9999999", b"k" * 15, "a key of 15 bytes"),
                                      ("9999999", "k" * 40, "a str key"),
                                      ("\t \n", long_key, "a blank identifier")):  # fmt: skip
            try:
                pseudonym(identifier, key)
            except (ValueError, TypeError):
                ex.expect(True, "")
                continue
            except NotImplementedError:
                raise
            except Exception as err:  # noqa: BLE001 (the student's to fix)
                ex.fail(f"for {name} raise a ValueError or TypeError, not {type(err).__name__}")
            ex.fail(f"for {name} raise a ValueError or TypeError (yours returned a pseudonym)")
