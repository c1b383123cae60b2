"""The benchmark table flags notebooks over budget (the measurement itself is `make bench`, not a test)."""

from xaihealth.tooling.bench import table


def test_table_marks_rows_over_budget():
    text = table([("notebooks/a.ipynb", 12.0, 300.0), ("notebooks/b.ipynb", 75.0, 200.0),
                  ("solutions/c.ipynb", 10.0, 2000.0)], repeat=1)  # fmt: skip
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert rows["notebooks/a.ipynb"].rstrip().endswith("| yes |")
    assert "**NO**" in rows["notebooks/b.ipynb"] and "**NO**" in rows["solutions/c.ipynb"]
    assert "| **all notebooks** | 97.0 |" in text


def test_total_over_ten_minutes_is_flagged():
    text = table([(f"n{i}.ipynb", 59.0, 100.0) for i in range(11)], repeat=1)
    assert text.splitlines()[-1].endswith("| **NO** |")
