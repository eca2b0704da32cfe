"""The December 2026 law review is walked row by row: every finding L1–L26 has a status in
docs/law-review.md, and every file it names as the place of the fix exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "docs" / "law-review.md"
ROWS = [f"L{n}" for n in range(1, 27)]
STATUSES = ("fixed", "changed", "not changed")


def review_rows() -> dict[str, dict[str, str]]:
    """The table's rows by id: severity, status, where, note."""
    rows: dict[str, dict[str, str]] = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and re.fullmatch(r"L\d+", cells[0]):
            row_id, severity, status, where = cells[:4]
            note = "|".join(cells[4:]).strip()
            assert row_id not in rows, f"{row_id} appears twice in {TABLE.name}"
            rows[row_id] = {"severity": severity, "status": status, "where": where,
                            "note": note}
    return rows


def test_every_row_of_the_review_is_in_the_table() -> None:
    assert sorted(review_rows(), key=lambda r: int(r[1:])) == ROWS


@pytest.mark.parametrize("row_id", ROWS)
def test_row_has_a_status_and_a_place(row_id: str) -> None:
    row = review_rows()[row_id]
    assert row["status"] in STATUSES, (
        f"{row_id}: status {row['status']!r}; use one of {', '.join(STATUSES)}")
    paths = re.findall(r"`([^`]+)`", row["where"])
    if row["status"] == "not changed":
        assert len(row["note"]) >= 40, f"{row_id}: say why it was not changed, with a source"
    else:
        assert paths, f"{row_id}: name the files where it was fixed, in backticks"
        assert row["note"], f"{row_id}: a short note on what changed"
    for path in paths:
        assert (ROOT / path.split("#")[0]).exists(), f"{row_id}: {path} does not exist"


def test_high_rows_are_fixed_not_waved_away() -> None:
    rows = review_rows()
    for row_id, row in rows.items():
        if row["severity"].startswith("High"):
            assert row["status"] in ("fixed", "changed"), f"{row_id} is High: fix it"
