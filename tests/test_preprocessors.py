"""The course's nbgrader preprocessors: reading learner cells for tampering with the grader.

The autograde run itself (a patched grader scoring 0) is proven end to end in
test_course_pipeline.py; here the scanner is tested on its own, fast.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from grading.preprocessors import FlagGraderTampering, tampering


@pytest.mark.parametrize("source, finding", [
    ("import grading\ngrading.check = lambda *a, **k: None", "replaces grading.check"),
    ("import grading.harness as h\nh._grade = lambda a, f: None", "replaces h._grade"),
    ("from grading import harness\nalias = harness\nalias.run = print", "replaces alias.run"),
    ("from grading.checks import PrincipleViolation\nPrincipleViolation.__init__ = print",
     "replaces PrincipleViolation.__init__"),
    ("import sys\nsys.modules['grading'].check = print", "uses sys.modules"),
    ("import grading\nvars(grading)['check'] = print", "replaces vars(grading)['check']"),
    ("import grading\nh = getattr(grading, 'harness')\nh.run = 1", "replaces h.run"),
    ("import grading\ndel grading.check", "deletes grading.check"),
    ("import sqlite3\nsqlite3.connect = lambda *a, **k: None", "replaces sqlite3.connect"),
    ("from unittest import mock\nmock.patch('grading.check').start()", "imports unittest"),
    ("setattr(__import__('grading'), 'check', print)", "uses setattr"),
    ("exec('import grading; grading.check = print')", "uses exec"),
    ("def broken(:\n    exec('x')", "uses exec"),
    # rebinding the name the test cells call, in the notebook's namespace
    ("check = lambda *a, **k: None", "rebinds check"),
    ("def check(*args, **kwargs):\n    pass", "rebinds check"),
    ("def f(cms):\n    global check\n    check = print", "declares global check"),
    ("def f(cms):\n    globals()['check'] = print", "uses globals"),
    ("get_ipython().user_ns['check'] = print", "uses get_ipython"),
    ("from os import path as check", "rebinds check"),
    ("%time check = print", "rebinds check"),
    ("%run patch.py", "runs %run"),
    ("%%writefile patch.py\nimport grading", "runs %%writefile"),
    ("!python patch.py", "runs !python"),
])
def test_changing_the_grader_is_found(source, finding):
    assert any(finding in hit for hit in tampering(source)), tampering(source)


@pytest.mark.parametrize("source", [
    "import sqlite3\nconn = sqlite3.connect('x.db')\nconn.row_factory = sqlite3.Row",
    "from collections import Counter\ncounts = Counter()\ncounts['a'] += 1",
    "import re\npattern = re.compile('x')\nrows = {}\nrows['k'] = pattern",
    "%time x = 1\nfrom grading import check\ncheck('00-newsletter-consent', print)",
    "def f(cms):\n    check = 1\n    for check in range(3):\n        pass\n    return check",
    "squares = [check * check for check in range(3)]",
    "from grading import check\ncheck('00-newsletter-consent', print)",
    "%time total = 1\n%matplotlib inline",
    "import pandas as pd\nimport matplotlib.pyplot as plt\npd.options.display.max_rows = 20\n"
    "plt.rcParams['figure.figsize'] = (8, 4)",
    "import hashlib, hmac, secrets\nkey = secrets.token_bytes(32)\n"
    "d = {}\nd['k'] = hmac.new(key, b'1', hashlib.sha256).hexdigest()",
])
def test_ordinary_learner_code_is_not_flagged(source):
    assert tampering(source) == []


def _notebook(solution: str) -> nbformat.NotebookNode:
    def meta(grade_id, **flags):
        return {"nbgrader": {"grade_id": grade_id, "schema_version": 3, "grade": False,
                             "solution": False, "locked": True, "task": False, **flags}}
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import grading  # locked setup", metadata=meta("setup")),
        nbformat.v4.new_code_cell(solution, metadata=meta("answer", solution=True,
                                                          locked=False)),
        nbformat.v4.new_code_cell("check('x', f)", metadata=meta("test", grade=True,
                                                                 points=1)),
    ]
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="passed\n")]
    return nb


def test_a_tampering_notebook_gets_every_test_cell_failed_with_the_reason():
    nb, _ = FlagGraderTampering().preprocess(
        _notebook("import grading\ngrading.check = print"), {})
    [output] = nb.cells[2].outputs
    assert output.output_type == "error" and output.ename == "PrincipleViolation"
    assert "changes the grader" in output.evalue
    assert "answer, line 2: replaces grading.check" in output.evalue


def test_an_honest_notebook_keeps_its_outputs():
    nb, _ = FlagGraderTampering().preprocess(_notebook("def f(cms):\n    return []"), {})
    assert [o.output_type for o in nb.cells[2].outputs] == ["stream"]


def test_the_autograde_step_is_on_when_nbgrader_registers_it():
    """nbconvert skips a preprocessor whose ``enabled`` is False (its default)."""
    from nbgrader.converters.autograde import Autograde

    from grading.nbgrader_config import make_config

    app = Autograde(config=make_config(Path("/tmp/unused")))
    steps = [step.__name__ for step in app.autograde_preprocessors]
    assert steps.index("FlagGraderTampering") == steps.index("Execute") + 1
    assert FlagGraderTampering().enabled


def test_what_the_locked_cells_import_from_grading_is_protected_too():
    nb = _notebook("plant_canaries = lambda *a, **k: []")
    nb.cells[0].source = "from grading.exercises.canary import plant_canaries"
    nb, _ = FlagGraderTampering().preprocess(nb, {})
    assert "rebinds plant_canaries" in nb.cells[2].outputs[0].evalue
