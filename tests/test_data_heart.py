"""The heart disease loader: the data are what the datasheet says, bad arguments are refused clearly."""

import hashlib
import os

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT

from xaihealth.data import FEATURES, SITES, heart, load_heart_disease


def test_shipped_file_is_the_documented_one():
    digest = hashlib.sha256((ROOT / "datasets" / "heart_disease_uci.csv").read_bytes()).hexdigest()
    assert digest == "574f2fa2b43012fa25fca4fcdb36bd7c6bccdd0af4242f6c0e4c8633c5a072ae"
    assert digest in (ROOT / "datasets" / "heart_disease_uci.md").read_text()
    assert heart.SHA256 == digest  # the loader checks the same hash


def test_shape_sites_and_target():
    df = load_heart_disease()
    assert len(df) == 920 and df["id"].is_unique
    assert df["site"].value_counts().to_dict() == {
        "Cleveland": 304,
        "Hungary": 293,
        "VA Long Beach": 200,
        "Switzerland": 123,
    }
    assert set(FEATURES) <= set(df.columns) and "site" not in FEATURES
    assert (df["disease"] == (df["num"] > 0)).all() and df["disease"].sum() == 509


def test_cholesterol_zero_quirk_is_kept_by_default():
    df = load_heart_disease()
    zero = df["chol"] == 0
    assert zero.sum() == 172 and df.loc[zero, "disease"].sum() == 152
    assert df.loc[zero, "site"].value_counts().to_dict() == {
        "Switzerland": 123,
        "VA Long Beach": 49,
        "Cleveland": 0,
        "Hungary": 0,
    }


def test_sentinel_as_missing_changes_only_the_zeros():
    raw, fixed = load_heart_disease(), load_heart_disease(chol_zero_as_missing=True)
    zero = raw["chol"] == 0
    assert fixed.loc[zero, "chol"].isna().all() and not (fixed["chol"] == 0).any()
    assert raw.loc[~zero, "chol"].equals(fixed.loc[~zero, "chol"])
    assert raw.drop(columns="chol").equals(fixed.drop(columns="chol"))


def test_codings():
    df = load_heart_disease()
    assert set(df["male"].unique()) == {0.0, 1.0}
    for col in ("fbs", "exang"):
        assert set(df[col].dropna().unique()) <= {0.0, 1.0}
    assert df["cp"].notna().all() and df["thal"].isna().sum() == 486
    assert np.isclose(df["age"].mean(), 53.51, atol=0.01)


def test_site_filter():
    df = load_heart_disease(sites=["Hungary", "Switzerland"])
    assert len(df) == 416 and set(df["site"]) == {"Hungary", "Switzerland"}
    assert list(SITES) == list(load_heart_disease()["site"].cat.categories)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"chol_zero_as_missing": "yes"}, TypeError, "chol_zero_as_missing='yes'"),
        ({"chol_zero_as_missing": 1}, TypeError, "chol_zero_as_missing=1"),
        ({"sites": ["Paris"]}, ValueError, "sites='Paris'.*Cleveland"),
        ({"sites": "Hungary"}, ValueError, "sites='Hungary'.*list"),
        ({"sites": []}, ValueError, "sites=\\[\\]"),
    ],
)
def test_bad_arguments_name_parameter_value_and_choices(kwargs, error, message):
    with pytest.raises(error, match=message):
        load_heart_disease(**kwargs)


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        load_heart_disease(True)


def test_tampered_csv_is_refused_naming_the_file_and_the_fix(tmp_path, monkeypatch):
    """A copy with one value changed (in a scratch datasets folder) is refused, not taught from."""
    text = (ROOT / "datasets" / heart.FILE).read_text()
    (tmp_path / heart.FILE).write_text(text.replace(",Male,", ",Female,", 1))
    monkeypatch.setenv("XAIHEALTH_DATASETS", str(tmp_path))
    with pytest.raises(heart.DataChecksumError, match=f"{heart.FILE}.*sha256.*git checkout -- datasets/"):
        load_heart_disease()
    assert issubclass(heart.DataChecksumError, ValueError)
    (tmp_path / heart.FILE).write_text(text)  # restored: accepted again, in the same process
    assert len(load_heart_disease()) == 920
    (tmp_path / heart.FILE).unlink()
    with pytest.raises(FileNotFoundError, match="git checkout"):
        load_heart_disease()


def _scratch_copy(tmp_path, monkeypatch):
    """The shipped CSV copied into a scratch datasets folder that the loader then reads."""
    path = tmp_path / heart.FILE
    path.write_bytes((ROOT / "datasets" / heart.FILE).read_bytes())
    monkeypatch.setenv("XAIHEALTH_DATASETS", str(tmp_path))
    return path


def test_a_same_size_edit_with_its_mtime_restored_is_refused_in_the_same_process(tmp_path, monkeypatch):
    path = _scratch_copy(tmp_path, monkeypatch)
    assert len(load_heart_disease()) == 920  # accepted once (a cache would remember this)
    before = path.stat()
    data = path.read_bytes()
    edited = data.replace(b",Male,", b",Elam,", 1)  # one patient loses the 'male' coding; same length
    assert len(edited) == len(data) and edited != data
    path.write_bytes(edited)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    with pytest.raises(heart.DataChecksumError, match=f"{heart.FILE}.*sha256"):
        load_heart_disease()


def test_the_bytes_that_are_hashed_are_the_bytes_that_are_parsed(tmp_path, monkeypatch):
    """An edit landing between the checksum and the parse must not reach the data frame."""
    path = _scratch_copy(tmp_path, monkeypatch)
    want = load_heart_disease()
    read_csv = pd.read_csv

    def edit_then_read(source, *args, **kwargs):
        path.write_bytes(path.read_bytes().replace(b",Male,", b",Female,"))  # after the hash was checked
        return read_csv(source, *args, **kwargs)

    monkeypatch.setattr(heart.pd, "read_csv", edit_then_read)
    got = load_heart_disease()
    assert got.equals(want) and got["male"].sum() == want["male"].sum() > 0
