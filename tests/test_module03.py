"""Module 03 (sharing customer data with an anti-piracy foundation): every exercise proven.

The proofs every exercise shares (reference solutions, wrong answers, a clean nbgrader
source, points) run in tests/test_exercise_proofs.py over one registry; this file holds what
is particular to the module. Together they prove:

- the reference solutions (taken from the source notebook) pass the visible and hidden test;
- plausible wrong answers (tests/fixtures/wrong_answers/m03_*.py) fail naming the right
  principle and rule;
- an answer hard-coded to the visible variant fails the hidden test;
- the planted consent histories and the generated forms are what the exercises claim;
- the source notebook is a valid nbgrader source (metadata, hidden tests, rubric, no output)
  citing the articles of post 3;
- with nbgrader (one slow test): the solution gets full marks, the untouched student version
  none, and the student version keeps the tasks but not the answers.
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
from notebook_tools import (
    HIDDEN_BEGIN,
    autograde_solution_and_untouched,
    autograded,
    cell,
    errors_outside_tests,
    load,
    points,
    section,
    solution,
    source_notebook,
    wrong_answers,
)

from grading import get_exercise, harness, run
from grading.checks import PrincipleViolation
from grading.exercises import m03_consent_forms as forms_ex
from grading.exercises import m03_share_with_foundation as share_ex
from grading.harness import close_attempt, open_variant

ASSIGNMENT = "03-consent-sharing"


# --- 03-share-with-foundation ----------------------------------------------------------

SHARE = "03-share-with-foundation"
NO_VALID_CONSENT = [label for label, may, _ in share_ex.CASES if not may]


def _grade_with_reports(fn, variant: str, labels) -> PrincipleViolation | None:
    """Grade ``fn`` on a variant whose reports are cut down to the planted cases ``labels``
    (the grader's own run, with the expectation recomputed for those reports)."""
    exercise = get_exercise(SHARE)
    attempt = open_variant(exercise, variant)
    try:
        reported = share_ex.reported_buyers(attempt.cms, attempt.context["reports"])
        keep = {cid for cid, label in attempt.context["cases"].items() if label in labels}
        attempt.context["reports"] = [r for r in attempt.context["reports"]
                                      if next(c for c, rid in reported.items()
                                              if rid == r["id"]) in keep]
        assert len(attempt.context["reports"]) == len(labels)
        attempt.expected = exercise.expect(attempt)
        return harness._grade(attempt, fn)
    finally:
        close_attempt(attempt)


def _case(attempt, label: str) -> int:
    return next(cid for cid, lab in attempt.context["cases"].items() if lab == label)


@pytest.mark.parametrize("variant", ["visible", "hidden"])
def test_every_boundary_case_is_reported_and_decides_as_labelled(variant: str) -> None:
    """Both variants hold one report per boundary case, whatever the seed; the ledger decides
    each as its label says, and the events sit exactly where the label puts them."""
    attempt = open_variant(get_exercise(SHARE), variant)
    try:
        cms, cases = attempt.cms, attempt.context["cases"]
        now = cms.clock.now()
        reported = share_ex.reported_buyers(cms, attempt.context["reports"])
        assert sorted(cases.values()) == sorted(
            [label for label, _, _ in share_ex.CASES] + [share_ex.NOT_REPORTED])
        assert len(attempt.context["reports"]) == len(share_ex.CASES) == len(reported)
        for label, may, _ in share_ex.CASES:
            cid = _case(attempt, label)
            assert cid in reported, label
            assert cms.consent.may(cid, share_ex.PURPOSE).allowed is may, label
            assert (cid in attempt.expected["share"]) is may, label
        # the boundary moments themselves
        events = {label: cms.consent.events(_case(attempt, label))
                  for label, _, _ in share_ex.CASES}
        assert events["withdrew exactly at the moment of sharing"][-1].at == now.isoformat()
        assert events["withdrew exactly at the moment of sharing"][-1].event == "withdrawn"
        assert events["consented exactly at the moment of sharing"][-1].at == now.isoformat()
        assert events["grant dated after the moment of sharing"][-1].at > now.isoformat()
        assert [e.event for e in events["withdrew, then consented again"]] == [
            "granted", "withdrawn", "granted"]
        assert {e.purpose for e in events["consented to the newsletter only"]} == {"newsletter"}
        found = dt.datetime.fromisoformat(attempt.context["reports"][0]["found_at"])
        late = events["withdrew after the copy was found"][-1]
        assert found.isoformat() < late.at < now.isoformat()
        # one second earlier, the exact-moment cases decide the other way round
        before = now - dt.timedelta(seconds=1)
        assert cms.consent.may(_case(attempt, "withdrew exactly at the moment of sharing"),
                               share_ex.PURPOSE, at=before).allowed
        assert not cms.consent.may(_case(attempt, "consented exactly at the moment of sharing"),
                                   share_ex.PURPOSE, at=before).allowed
        # a consenting buyer of a reported title whom no report names
        extra = _case(attempt, share_ex.NOT_REPORTED)
        assert extra not in reported and cms.consent.may(extra, share_ex.PURPOSE).allowed
        skus = {r["sku"] for r in attempt.context["reports"]}
        assert any(extra in share_ex.buyers(cms, sku) for sku in skus)
        for report in attempt.context["reports"]:
            assert set(report) == {"id", "order_id", "sku", "title", "found_at", "found_on"}
            assert ".example/" in report["found_on"]
    finally:
        close_attempt(attempt)


@pytest.mark.parametrize("variant", ["visible", "hidden"])
def test_sharing_nothing_passes_when_no_reported_buyer_may_be_shared(variant: str) -> None:
    """Reports whose buyers all lack valid consent: the lawful answer shares nothing, and
    sharing them anyway fails naming consent."""
    def share_nothing(cms, reports):
        with cms.processing("antipiracy_sharing") as p:
            for report in reports:
                p.query("SELECT customer_id FROM orders WHERE id = ?", (report["order_id"],))
        return []

    def record_an_empty_disclosure(cms, reports):
        with cms.processing("antipiracy_sharing") as p:
            p.share("antipiracy-foundation", [], ["customers.first_name", "customers.email"])
        return []

    assert _grade_with_reports(solution(SHARE), variant, NO_VALID_CONSENT) is None
    assert _grade_with_reports(share_nothing, variant, NO_VALID_CONSENT) is None
    assert _grade_with_reports(record_an_empty_disclosure, variant, NO_VALID_CONSENT) is None
    for label in NO_VALID_CONSENT:  # each case alone, too
        assert _grade_with_reports(solution(SHARE), variant, [label]) is None, label
        wrong = wrong_answers("m03_share_with_foundation").share_without_valid_consent
        violation = _grade_with_reports(wrong, variant, [label])
        assert violation is not None and violation.principle == "consent", (label, violation)


@pytest.mark.parametrize("variant", ["visible", "hidden"])
def test_the_one_valid_buyer_alone_is_shared(variant: str) -> None:
    """One report whose buyer may be shared: the solution shares exactly that buyer; an
    empty answer misses them."""
    violation = _grade_with_reports(lambda cms, reports: [], variant, ["consented at checkout"])
    assert violation is not None and violation.principle == "task", violation
    assert "misses 1 record" in violation.message
    assert _grade_with_reports(solution(SHARE), variant, ["consented at checkout"]) is None


def test_consent_judged_at_the_moment_of_sharing_names_the_withdrawal() -> None:
    """The 'at purchase' answer shares the buyer who withdrew exactly at the moment of
    sharing, and the grade names that withdrawal (art. 7(3))."""
    attempt = open_variant(get_exercise(SHARE), "visible")
    try:
        withdrew = _case(attempt, "withdrew exactly at the moment of sharing")
    finally:
        close_attempt(attempt)
    wrong = wrong_answers("m03_share_with_foundation").use_consent_at_wrong_moment
    outcome = run(SHARE, wrong, "visible")
    assert f"customer {withdrew} withdrew consent" in outcome.message, outcome.message


def test_one_share_per_report_passes_and_other_recipients_fail() -> None:
    def one_share_per_report(cms, reports):
        ids = []
        for report in reports:
            with cms.processing("antipiracy_sharing") as p:
                rows = p.query("SELECT customer_id FROM orders WHERE id = ?",
                               (report["order_id"],))
                for row in rows:
                    if cms.consent.may(row["customer_id"], "antipiracy_sharing").allowed:
                        p.share("antipiracy-foundation", [row["customer_id"]],
                                ["customers.first_name", "customers.last_name",
                                 "customers.email"])
                        ids.append(row["customer_id"])
        return ids

    def to_the_press(cms, reports):
        ids = solution(SHARE)(cms, reports)
        with cms.processing("antipiracy_sharing") as p:
            p.share("newspaper", ids[:1], ["customers.email"])
        return ids

    for variant in ("visible", "hidden"):
        outcome = run(SHARE, one_share_per_report, variant)
        assert outcome.passed, outcome.message
    outcome = run(SHARE, to_the_press, "visible")
    assert outcome.principle == "task" and "newspaper" in outcome.message, outcome.message


@pytest.mark.parametrize(
    ("fn", "principle", "phrase"),
    wrong_answers("m03_share_with_foundation").WRONG_ANSWERS,
    ids=lambda v: getattr(v, "__name__", None))
def test_wrong_shares_fail_on_the_hidden_variant_too(fn, principle, phrase) -> None:
    outcome = run(SHARE, fn, "hidden")
    assert not outcome.passed and outcome.principle == principle, outcome.message


def test_hard_coded_share_fails_hidden() -> None:
    attempt = open_variant(get_exercise(SHARE), "visible")
    try:
        visible_ids = sorted(attempt.expected["share"])
    finally:
        close_attempt(attempt)
    hard_coded = wrong_answers("m03_share_with_foundation").hard_coded(visible_ids)
    assert run(SHARE, hard_coded, "visible").passed
    hidden = run(SHARE, hard_coded, "hidden")
    assert not hidden.passed
    assert hidden.principle in {"consent", "minimisation"}, hidden.message


def test_visible_and_hidden_differ_in_reports_date_and_shared_customers() -> None:
    exercise = get_exercise(SHARE)
    seen = []
    for variant in ("visible", "hidden"):
        attempt = open_variant(exercise, variant)
        try:
            seen.append((tuple(r["order_id"] for r in attempt.context["reports"]),
                         attempt.cms.clock.now(), frozenset(attempt.expected["share"])))
        finally:
            close_attempt(attempt)
    (orders_v, now_v, share_v), (orders_h, now_h, share_h) = seen
    assert orders_v != orders_h and now_v != now_h and share_v != share_h
    assert len(share_v) == len(share_h) == sum(1 for _, may, _ in share_ex.CASES if may)


def test_register_and_consent_text_agree_on_what_may_be_passed_on() -> None:
    """The consent text names the foundation and the columns; the register lets the purpose
    read no phone number; the grader's consented columns are those the text names."""
    attempt = open_variant(get_exercise(SHARE), "visible")
    try:
        (text,) = attempt.query("SELECT text FROM consent_texts WHERE version = ?",
                                (share_ex.TEXT_VERSION,))
        columns = set(attempt.cms.register.purpose(share_ex.PURPOSE).columns)
    finally:
        close_attempt(attempt)
    flat = " ".join(text["text"].split())
    for named in ("Stichting Kopieerwacht", "name, e-mail address and the order number",
                  "if that copy"):
        assert named in flat, named
    assert columns >= share_ex.CONSENTED_COLUMNS
    assert "customers.phone" not in columns and "customers.street" not in columns


# --- 03-consent-forms --------------------------------------------------------------------

FORMS = "03-consent-forms"


def test_forms_answer_with_a_missing_form_or_an_unknown_code_gets_a_task_message() -> None:
    review = wrong_answers("m03_consent_forms")._review  # the right review, another way

    def skips_one(cms, pages):
        verdicts = review(pages)
        return {f: verdicts[f] for f in list(pages)[1:]}

    def own_code(cms, pages):
        return {f: {"looks_dodgy"} for f in pages}

    def invents_a_form(cms, pages):
        return {**review(pages), "F99": set()}

    for fn, phrase in ((skips_one, "missing: F1"), (own_code, "unknown problem code"),
                       (invents_a_form, "not among them: F99")):
        outcome = run(FORMS, fn, "visible")
        assert outcome.principle == "task" and phrase in outcome.message, outcome.message


def test_hard_coded_form_verdicts_fail_hidden() -> None:
    visible = {f["id"]: forms_ex.verdict(f) for f in forms_ex.make_forms(
        get_exercise(FORMS).visible.seed)}

    def hard_coded(cms, pages):
        return {k: set(v) for k, v in visible.items()}

    assert run(FORMS, hard_coded, "visible").passed
    hidden = run(FORMS, hard_coded, "hidden")
    assert not hidden.passed and hidden.principle == "consent", hidden.message


PLANTED_VERDICTS = {
    "a fully correct form": set(),
    "pre-ticked, written as a bare checked": {"pre_ticked"},
    'pre-ticked, written as checked="checked"': {"pre_ticked"},
    "the sharing only in the terms of sale": {"bundled_terms"},
    "one box for the sharing and the newsletter": {"bundled_purposes"},
    'the sharing box required, written as required="required"': {"required_for_checkout"},
    "the sharing box required, written as a bare REQUIRED": {"required_for_checkout"},
    "a recipient row that does not name the foundation": {"not_informed"},
    "no recipient row": {"not_informed"},
    "no purpose row": {"not_informed"},
    "an empty data row": {"not_informed"},
    "no withdrawal row": {"not_informed"},
    "the information list has the hidden attribute": {"not_informed"},
    "the information list sits in a block styled display: none": {"not_informed"},
    "withdrawal only by phone (a tel: link)": {"hard_to_withdraw"},
    "withdrawal only by phone (a link to the contact page)": {"hard_to_withdraw"},
    "withdrawal only by letter": {"hard_to_withdraw"},
    "a right to withdraw but no way to do it": {"hard_to_withdraw"},
    "a required terms box beside a free sharing box": set(),
    "a pre-ticked newsletter box beside an unticked sharing box": set(),
    "a separate, unticked newsletter box": set(),
    "terms that describe the sharing beside its own box": set(),
    "the withdrawal link written as a full address": set(),
    "aria-checked and aria-required set to false on an optional, unticked box": set(),
}
SEEDS = [20130927, 116, 1, 99, 1734029117]


VOID_TAGS = {"input", "meta", "br"}


class _Tags(HTMLParser):
    """Start and end tags of a page, to check that it is well formed."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag not in VOID_TAGS:
            self.open.append(tag)

    def handle_endtag(self, tag) -> None:
        if tag in VOID_TAGS:  # <input ... /> reports an end tag too
            return
        if not self.open or self.open.pop() != tag:
            self.errors.append(tag)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_planted_page_is_in_every_variant_and_decides_as_labelled(seed: int) -> None:
    """Whatever the seed: every planted design, each problem code, a lawful page, two pages
    with two problems; each planted page decides as its label says."""
    forms = forms_ex.make_forms(seed)
    by_label = {f["label"]: f for f in forms}
    assert set(PLANTED_VERDICTS) == {label for label, _ in forms_ex.PLANTED} <= set(by_label)
    for label, problems in PLANTED_VERDICTS.items():
        assert forms_ex.verdict(by_label[label]) == problems, label
    verdicts = [forms_ex.verdict(f) for f in forms]
    assert set().union(*verdicts) == set(forms_ex.CODES)
    assert sum(1 for v in verdicts if len(v) == 2) == 2
    assert [f["id"] for f in forms] == [f"F{n}" for n in range(1, len(forms) + 1)]
    assert forms_ex.planted_forms(seed) == {f["label"]: f["id"] for f in forms}
    assert [f["html"] for f in forms] == [f["html"] for f in forms_ex.make_forms(seed)]
    for form in forms:
        tags = _Tags()
        tags.feed(form["html"])
        tags.close()
        assert tags.errors == [] and tags.open == [], (form["label"], tags.errors, tags.open)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_markup_is_spelled_several_ways_in_every_variant(seed: int) -> None:
    """The spellings that break a parse by string matching are planted whatever the seed."""
    pages = {f["label"]: f["html"] for f in forms_ex.make_forms(seed)}

    def sharing_tag(label: str) -> str:
        page = pages[label]
        start = page.index("antipiracy_sharing", page.index("data-purpose"))
        tag = page[page.index("<input", page.index('type="hidden"', start) + 1):]
        return tag[:tag.index(">") + 1]

    assert re.search(r"<input[^>]*\schecked[\s/>]", sharing_tag(
        "pre-ticked, written as a bare checked"))
    assert re.search(r"""\schecked=["']checked["']""", sharing_tag(
        'pre-ticked, written as checked="checked"'))
    assert re.search(r"\sREQUIRED[\s/>]", sharing_tag(
        "the sharing box required, written as a bare REQUIRED"))
    decoy = sharing_tag("aria-checked and aria-required set to false on an optional, "
                        "unticked box")
    assert "aria-checked" in decoy and "aria-required" in decoy
    assert not re.search(r"\s(checked|required)[\s=/>]", decoy)
    for label, page in pages.items():  # a hidden input named like a consent, a required field
        email = re.search(r"<input[^>]*name=[\"']email[\"'][^>]*>", page)
        assert email and re.search(r"\srequired[\s>]", email.group()), label
        if PLANTED_VERDICTS.get(label) is not None and "terms of sale" not in label:
            assert 'type="hidden" name="consent_version"' in page, label
    assert re.search(r"<dl[^>]*\shidden[\s>]", pages[
        "the information list has the hidden attribute"])
    assert "display : none" in pages["the information list sits in a block styled display: none"]
    assert "https://leesgraag.example/my-data" in pages[
        "the withdrawal link written as a full address"]
    assert "Stichting Kopieerwacht" in pages["terms that describe the sharing beside its own box"]
    html = "".join(pages.values())
    for placement in (r"<label>\s*<input", r"<label for=[^>]*>[^<]*</label>\s*<input",
                      r"<input[^>]*>\s*<label for="):
        assert re.search(placement, html), placement


def _bs4_review(cms, pages):
    """A correct review with BeautifulSoup (installed with JupyterLab; not required)."""
    from urllib.parse import urlparse

    from bs4 import BeautifulSoup

    def shown(tag):
        for node in [tag, *tag.parents]:
            style = (node.get("style") or "").replace(" ", "") if node.name else ""
            if node.name and (node.has_attr("hidden") or "display:none" in style):
                return False
        return True

    verdicts = {}
    for form_id, page in pages.items():
        soup = BeautifulSoup(page, "html.parser")
        problems = set()
        sharing = [b for b in soup.find_all(attrs={"data-purpose": True})
                   if "antipiracy_sharing" in b["data-purpose"].split()]
        terms = soup.find(id="terms")
        if not sharing and terms and "Stichting Kopieerwacht" in terms.get_text():
            problems.add("bundled_terms")
        for box in sharing:
            tick = box.find("input", attrs={"type": "checkbox"})
            problems |= {"pre_ticked"} if tick.has_attr("checked") else set()
            problems |= {"required_for_checkout"} if tick.has_attr("required") else set()
            problems |= {"bundled_purposes"} if len(box["data-purpose"].split()) > 1 else set()
            rows = {}
            for title in box.find_all("dt"):
                dd = title.find_next_sibling("dd")
                if shown(title) and dd is not None and dd.get_text(strip=True):
                    rows[title.get_text(strip=True)] = dd
            if set(rows) != {"Who asks", "Passed to", "What for", "Which data",
                             "Withdrawal"} or "Stichting Kopieerwacht" not in \
                    rows["Passed to"].get_text():
                problems.add("not_informed")
            if "Withdrawal" in rows:
                urls = [urlparse(a.get("href", "")) for a in rows["Withdrawal"].find_all("a")]
                if not any(u.path == "/my-data" and u.netloc in ("", "leesgraag.example")
                           and u.scheme in ("", "https", "http") for u in urls):
                    problems.add("hard_to_withdraw")
        verdicts[form_id] = problems
    return verdicts


def _the_other_reading_too(cms, pages):
    """The right review plus every code the grader accepts as a second reading."""
    answers = wrong_answers("m03_consent_forms")
    verdicts = answers._review(pages)
    for form_id, problems in verdicts.items():
        tree = answers._Tree()
        tree.feed(pages[form_id])
        boxes = [n for n in answers._walk(tree.root)
                 if "antipiracy_sharing" in n.attrs.get("data-purpose", "").split()]
        if "bundled_terms" in problems:
            problems |= {"required_for_checkout", "bundled_purposes", "not_informed",
                         "hard_to_withdraw"}
        if any("withdrawal" not in answers._rows(box) for box in boxes):
            problems.add("hard_to_withdraw")  # no withdrawal row shown: no way back shown
        if "You may withdraw your consent at any time." in pages[form_id]:
            problems.add("not_informed")  # a right without a route: not told how
    return verdicts


@pytest.mark.parametrize("fn", [lambda cms, pages: wrong_answers("m03_consent_forms")._review(
    pages), _bs4_review], ids=["tree", "bs4"])
@pytest.mark.parametrize("variant", ["visible", "hidden"])
def test_other_correct_reviews_pass_both_variants(fn, variant: str) -> None:
    """Reviews written other ways than the notebook's (a tree of nodes, BeautifulSoup) pass."""
    outcome = run(FORMS, fn, variant)
    assert outcome.passed, outcome.message


def test_a_second_lawful_reading_passes_and_is_not_a_free_pass() -> None:
    """Where the law allows two readings the grader accepts both; a code added elsewhere
    still fails."""
    outcome = run(FORMS, _the_other_reading_too, "visible")
    assert outcome.passed, outcome.message
    forms = forms_ex.make_forms(get_exercise(FORMS).visible.seed)
    (hidden_list,) = [f for f in forms if f["label"] == "the information list has the hidden "
                      "attribute"]
    assert forms_ex.tolerated(hidden_list) == {"hard_to_withdraw"}
    (correct,) = [f for f in forms if f["label"] == "a fully correct form"]
    assert forms_ex.tolerated(correct) == set()

    def one_more_on_a_lawful_page(cms, pages):
        verdicts = wrong_answers("m03_consent_forms")._review(pages)
        verdicts[correct["id"]].add("hard_to_withdraw")
        return verdicts

    outcome = run(FORMS, one_more_on_a_lawful_page, "visible")
    assert outcome.principle == "consent" and "a fully correct form" in outcome.message


def test_each_problem_code_has_an_article_and_a_reason() -> None:
    for code in forms_ex.CODES:
        article, _ = forms_ex.PROBLEMS[code]
        assert "art." in article and "para" in article, code
        assert forms_ex.why(code).strip(), code


def test_the_sample_pages_are_the_visible_pages_without_their_labels() -> None:
    pages = forms_ex.sample_pages()
    forms = forms_ex.make_forms(get_exercise(FORMS).visible.seed)
    assert pages == {f["id"]: f["html"] for f in forms}
    assert all(f["label"] not in page for f in forms for page in pages.values())


# --- the source notebook ----------------------------------------------------------------


def test_every_legal_claim_cell_cites_an_article() -> None:
    nb = load(source_notebook(ASSIGNMENT))
    for c in nb.cells:
        if c.cell_type == "markdown" and "Principle:" in c.source:
            assert "art." in c.source, c.source[:80]
    law = section(nb, "m03-law")
    for cited in ("art. 8(a)", "art. 8(f)", "6(1)(a)", "4(11)", "7(1)", "7(3)", "7(4)",
                  "6(1)(f)", "recital 47", "para 79", "para 81", "para 64",
                  "Aanhangsel Handelingen TK 2013–2014, nr. 116", "unverified"):
        assert cited in law, cited
    assert "gerechtvaardigd belang" in section(nb, "m03-story")
    # law review L4, L11, L22, L23, L25
    story = section(nb, "m03-story")
    assert "C-252/21" in story and "Guidelines 2/2019" in story
    for cited in ("art. 10", "UAVG", "9(2)(a)", "49(1)(a)", "para 65", "does not lift art. 5",
                  "Explicit"):
        assert cited in " ".join(law.split()).replace("*", ""), cited
    minister = law[law.index("nr. 116"):][:200]
    assert "*unverified*" in minister, minister  # L23: not found, so marked
    rubric = cell(nb, "m03-ex3-answer").source
    assert "rejects art. 6(1)(b)" in rubric and "art. 10" in rubric
    assert "1.7–2.5 hours" in nb.cells[0].source


# --- the notebook through nbgrader (one slow test) ----------------------------------------


@pytest.mark.slow
@pytest.mark.nbgrader
def test_nbgrader_gives_the_solution_full_marks_and_the_student_version_none(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.delenv("PRIVACY_COURSE_PROGRESS", raising=False)
    root = tmp_path / "classroom"
    scores = autograde_solution_and_untouched(ASSIGNMENT, root)
    graded = points(load(source_notebook(ASSIGNMENT)))
    automatic = {gid for gid in graded if gid != "m03-ex3-answer"}
    assert len(automatic) == 4  # two exercises, visible + hidden
    for gid in automatic:
        assert scores["solution"][gid] == graded[gid], (gid, scores["solution"])
        assert scores["untouched"][gid] == 0, (gid, scores["untouched"])
    assert scores["solution"]["m03-ex3-answer"] == 0  # waits for the instructor
    for student in ("solution", "untouched"):
        assert errors_outside_tests(autograded(root, student, ASSIGNMENT)) == [], student
    # the student version keeps the tasks, not the answers
    student = load(root / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    text = "\n".join(c.source for c in student.cells)
    assert "### BEGIN SOLUTION" not in text and HIDDEN_BEGIN not in text
    assert "cms.consent.may(c, \"antipiracy_sharing\")" not in text
    assert "problems.add(\"hard_to_withdraw\")" not in text
    assert "hard_to_withdraw" in text  # the table of codes stays
    written = cell(student, "m03-ex3-answer").source
    assert "Rubric" not in written and "Model answer" not in written
    assert "How it is graded" in cell(student, "m03-ex3-md").source
