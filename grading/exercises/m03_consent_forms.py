"""Exercise 03-consent-forms: review the checkout pages the shop front renders.

The learner writes ``review_forms(cms, pages) -> {form id: set of problem codes}``: ``pages``
maps a form id to the HTML of one proposed checkout page, and the review judges the consent
to share buyer details with the anti-piracy foundation (``antipiracy_sharing``) on it. The
learner parses the HTML (the standard library's ``html.parser`` is enough); the grader
judges the *design* each page was rendered from, so the two never share code.

Every variant holds every planted design of :data:`PLANTED` (each problem code, several
spellings of it in the markup, and lawful forms on the edge of each rule) plus two seeded
forms with two problems each, in a seeded order and with seeded markup (attribute order,
quotes, label before, after or around the box, the element that carries ``data-purpose``).
The codes, their articles and every text on the pages are data:
``datasets/exercises/consent_forms.toml``.

How a verdict is judged. Each form has the problems its design has (``verdict``); a review
must report each of them, and may report nothing else, because flagging a lawful form
means throwing away valid consents or blocking a lawful design. Where the law allows two
readings the grader accepts both (``tolerated``): a page without a sharing box but with the
sharing in its terms is ``bundled_terms``, and may also be called a condition of the sale,
a bundle, uninformed or hard to withdraw; a page whose withdrawal row is missing or hidden
may also be called hard to withdraw; a right to withdraw without a route may also be called
uninformed.
"""

from __future__ import annotations

import copy
import html
import random
from collections.abc import Mapping
from functools import cache
from typing import Any

from grading.checks import PrincipleViolation, check_type
from grading.harness import Attempt, Exercise, Variant, register
from sandbox_cms.core.datafiles import DATASETS, read_toml
from sandbox_cms.core.errors import CourseError

EXERCISE_ID = "03-consent-forms"
FORMS_FILE = DATASETS / "exercises" / "consent_forms.toml"
CODES = ("pre_ticked", "bundled_terms", "bundled_purposes", "required_for_checkout",
         "not_informed", "hard_to_withdraw")
ROWS = ("controller", "recipient", "purpose", "data", "withdrawal")


@cache
def texts() -> dict[str, Any]:
    """The exercise's data file, checked: every code, row and route it needs."""
    data = read_toml(FORMS_FILE, CourseError, "consent forms file")
    for key in ("shop", "foundation", "site", "withdraw_path", "purpose", "terms_clause",
                "terms_mention", "newsletter_question", "terms_question"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise CourseError(f"{FORMS_FILE}: key '{key}' must be a non-empty string")
    for code in CODES:
        entry = data.get("codes", {}).get(code, {})
        if not entry.get("article") or not entry.get("rule"):
            raise CourseError(f"{FORMS_FILE}: [codes.{code}] needs an article and a rule")
    for table, keys in (("rows", ROWS), ("told", ROWS[:4])):
        missing = [k for k in keys if not data.get(table, {}).get(k)]
        if missing:
            raise CourseError(f"{FORMS_FILE}: [{table}] misses {', '.join(missing)}")
    for name, route in data.get("routes", {}).items():
        if not isinstance(route.get("easy"), bool) or not route.get("html"):
            raise CourseError(f"{FORMS_FILE}: [routes.{name}] needs easy and html")
    return data


PURPOSE = "antipiracy_sharing"
PROBLEMS: dict[str, tuple[str, str]] = {}  # code -> (article, rule); filled below


def _load_problems() -> None:
    data = texts()
    if data["purpose"] != PURPOSE:
        raise CourseError(f"{FORMS_FILE}: purpose must be {PURPOSE!r}")
    PROBLEMS.update({c: (data["codes"][c]["article"], " ".join(data["codes"][c]["rule"].split()))
                     for c in CODES})


_load_problems()


def why(code: str) -> str:
    """The plain rule a form with this problem breaks."""
    return PROBLEMS[code][1]


# --- the designs --------------------------------------------------------------------------

def _sharing(**changes: Any) -> dict[str, Any]:
    """A well-made sharing box, with ``changes``."""
    box = {"purposes": [PURPOSE], "checked": None, "required": None, "missing": [],
           "empty": [], "vague_recipient": False, "info": "shown", "route": "my_data",
           "decoys": False}
    box.update(changes)
    return box


# label -> the design's changes: sharing-box fields, or "sharing" (None: no box), "terms"
# (None, "plain", "clause", "mention") and "newsletter" (None, "unticked", "ticked").
PLANTED: tuple[tuple[str, dict[str, Any]], ...] = (
    ("a fully correct form", {}),
    ("pre-ticked, written as a bare checked", {"checked": "bare"}),
    ('pre-ticked, written as checked="checked"', {"checked": "value"}),
    ("the sharing only in the terms of sale", {"sharing": None, "terms": "clause"}),
    ("one box for the sharing and the newsletter", {"purposes": [PURPOSE, "newsletter"]}),
    ('the sharing box required, written as required="required"', {"required": "value"}),
    ("the sharing box required, written as a bare REQUIRED", {"required": "upper"}),
    ("a recipient row that does not name the foundation", {"vague_recipient": True}),
    ("no recipient row", {"missing": ["recipient"]}),
    ("no purpose row", {"missing": ["purpose"]}),
    ("an empty data row", {"empty": ["data"]}),
    ("no withdrawal row", {"missing": ["withdrawal"]}),
    ("the information list has the hidden attribute", {"info": "hidden"}),
    ("the information list sits in a block styled display: none", {"info": "display_none"}),
    ("withdrawal only by phone (a tel: link)", {"route": "phone"}),
    ("withdrawal only by phone (a link to the contact page)", {"route": "phone_contact"}),
    ("withdrawal only by letter", {"route": "letter"}),
    ("a right to withdraw but no way to do it", {"route": "none"}),
    # lawful forms on the edge of a rule
    ("a required terms box beside a free sharing box", {"terms": "plain"}),
    ("a pre-ticked newsletter box beside an unticked sharing box", {"newsletter": "ticked"}),
    ("a separate, unticked newsletter box", {"newsletter": "unticked"}),
    ("terms that describe the sharing beside its own box", {"terms": "mention"}),
    ("the withdrawal link written as a full address", {"route": "my_data_url"}),
    ("aria-checked and aria-required set to false on an optional, unticked box",
     {"decoys": True}),
)
# Forms with two problems; each variant draws two of them.
PAIRS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("pre-ticked and required", {"checked": "empty", "required": "bare"}),
    ("one box for two purposes, recipient not named", {"purposes": ["newsletter", PURPOSE],
                                                       "vague_recipient": True}),
    ("required, withdrawal only by letter", {"required": "value", "route": "letter"}),
    ("pre-ticked, withdrawal only by phone", {"checked": "upper", "route": "phone"}),
)
LAWFUL = ("a fully correct form", "a required terms box beside a free sharing box",
          "a pre-ticked newsletter box beside an unticked sharing box",
          "a separate, unticked newsletter box",
          "terms that describe the sharing beside its own box",
          "the withdrawal link written as a full address",
          "aria-checked and aria-required set to false on an optional, unticked box")


def _design(label: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    form_keys = {"sharing", "terms", "newsletter"}
    box_changes = {k: v for k, v in changes.items() if k not in form_keys}
    sharing = changes.get("sharing", "box")
    return {"label": label,
            "sharing": None if sharing is None else _sharing(**copy.deepcopy(box_changes)),
            "terms": changes.get("terms"), "newsletter": changes.get("newsletter")}


def _generate(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(f"consent-pages-{seed}")
    designs = [_design(label, changes) for label, changes in PLANTED]
    designs += [_design(label, changes) for label, changes in rng.sample(PAIRS, 2)]
    rng.shuffle(designs)
    for n, design in enumerate(designs, start=1):
        design["id"] = f"F{n}"
        # a separate newsletter box on some other forms, as on a real page
        if design["newsletter"] is None and design["label"] not in LAWFUL and rng.random() < 0.4:
            design["newsletter"] = "unticked"
        design["html"] = render(design, random.Random(f"{seed}-{design['label']}"))
    return designs


def make_forms(seed: int) -> list[dict[str, Any]]:
    """The designs of one variant, each with its ``id``, ``label`` and rendered ``html``."""
    return _generate(seed)


def sample_pages() -> dict[str, str]:
    """The pages of the visible test, HTML only: to look at while writing the review."""
    return {f["id"]: f["html"] for f in _generate(EXERCISE.visible.seed or 0)}


def planted_forms(seed: int) -> dict[str, str]:
    """Which form of the variant with this seed carries which planted design: label -> id."""
    return {d["label"]: d["id"] for d in _generate(seed)}


# --- the reference verdict ----------------------------------------------------------------

_verdict_calls = [0]  # how often verdict() ran; the learner's code must not call it


def verdict(design: Mapping[str, Any]) -> set[str]:
    """The reference: the problems that keep this design from giving valid sharing consent."""
    _verdict_calls[0] += 1
    return _problems(design)[0]


def tolerated(design: Mapping[str, Any]) -> set[str]:
    """Codes a review may add to the verdict without being wrong (two lawful readings)."""
    return _problems(design)[1]


def _problems(design: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    box = design["sharing"]
    if box is None:
        if design["terms"] == "clause":
            return {"bundled_terms"}, {"required_for_checkout", "bundled_purposes",
                                       "not_informed", "hard_to_withdraw"}
        return set(), set()
    problems, also = set(), set()
    if box["checked"]:
        problems.add("pre_ticked")
    if len(box["purposes"]) > 1:
        problems.add("bundled_purposes")
    if box["required"]:
        problems.add("required_for_checkout")
    shown = box["info"] == "shown"
    if not shown or box["missing"] or box["empty"] or box["vague_recipient"]:
        problems.add("not_informed")
    if not shown or "withdrawal" in box["missing"]:
        also.add("hard_to_withdraw")  # no route shown: either reading holds
    elif not texts()["routes"][box["route"]]["easy"]:
        problems.add("hard_to_withdraw")
        if box["route"] == "none":
            also.add("not_informed")  # the right is told, but not how to use it
    return problems, also - problems


# --- rendering ----------------------------------------------------------------------------

def _attrs(pairs: list[tuple[str, str | None]], rng: random.Random) -> str:
    """Attributes in a seeded order, each quoted with " or '; a None value is bare."""
    pairs = list(pairs)
    rng.shuffle(pairs)
    out = []
    for name, value in pairs:
        if value is None:
            out.append(name)
        else:
            quote = rng.choice(('"', "'"))
            out.append(f"{name}={quote}{html.escape(value, quote=True)}{quote}")
    return " ".join(out)


def _flag(name: str, spelling: str | None) -> list[tuple[str, str | None]]:
    """A boolean attribute in one spelling: bare, name="name", name="" or upper case."""
    if spelling is None:
        return []
    return [{"bare": (name, None), "value": (name, name), "empty": (name, ""),
             "upper": (name.upper(), None)}[spelling]]


def _box_html(n: int, purposes: list[str], question: str, checkbox: list[tuple[str, str | None]],
              info: str, rng: random.Random, wrapper: str, version: str | None) -> str:
    """One box: the wrapper with ``data-purpose``, the checkbox, its label and its info."""
    box_id = f"c{n}-{'-'.join(purposes)}"
    pairs = [("type", "checkbox"), ("id", box_id), *checkbox]
    tail = rng.choice((">", " />", "/>"))
    box = f"<input {_attrs(pairs, rng)}{tail}"
    placement = rng.choice(("around", "before", "after"))
    if placement == "around":
        ticked = f"<label>{box} {question}</label>"
    elif placement == "before":
        ticked = f"<label for=\"{box_id}\">{question}</label>\n      {box}"
    else:
        ticked = f"{box}\n      <label for=\"{box_id}\">{question}</label>"
    extra = ""
    if version:  # the text version shown, kept as proof of what was asked (art. 7(1))
        extra = f"      <input type=\"hidden\" name=\"consent_version\" value=\"{version}\">\n"
    wrap_attrs = _attrs([("class", "consent"), ("data-purpose", " ".join(purposes))], rng)
    legend = "      <legend>Your choice</legend>\n" if wrapper == "fieldset" else ""
    return (f"    <{wrapper} {wrap_attrs}>\n{legend}{extra}      {ticked}\n{info}"
            f"    </{wrapper}>\n")


def _info(rows: list[tuple[str, str]], rng: random.Random, how: str = "shown") -> str:
    """The information list under a box: (row label, html) pairs."""
    body = "".join(f"        <dt>{label}</dt>\n        <dd>{value}</dd>\n"
                   for label, value in rows)
    pairs: list[tuple[str, str | None]] = [("class", "consent-info")]
    if how == "hidden":
        pairs.append(("hidden", None))
    elif rng.random() < 0.3:
        pairs.append(("style", "margin: 0.5em 0"))
    dl = f"      <dl {_attrs(pairs, rng)}>\n{body}      </dl>\n"
    if how == "display_none":
        return f"      <div style=\"font-size: small; display : none;\">\n{dl}      </div>\n"
    return dl


def _sharing_rows(box: Mapping[str, Any], rng: random.Random) -> list[tuple[str, str]]:
    data = texts()
    told = dict(data["told"])
    if box["vague_recipient"]:
        told["recipient"] = rng.choice(data["vague_recipients"])
    told["withdrawal"] = data["routes"][box["route"]]["html"]
    for row in box["empty"]:
        told[row] = ""
    if len(box["purposes"]) > 1:
        told["purpose"] = ("A monthly newsletter; and, only if a copy of an e-book you bought "
                           "here turns up on a download site, tracing that one copy")
    return [(data["rows"][row], told[row]) for row in ROWS if row not in box["missing"]]


def render(design: Mapping[str, Any], rng: random.Random) -> str:
    """The checkout page of one design, as the shop front would serve it."""
    data = texts()
    wrapper = rng.choice(("div", "li", "fieldset"))
    boxes: list[tuple[float, str]] = []
    n = int(str(design.get("id", "F0"))[1:] or 0)
    box = design["sharing"]
    if box is not None:
        checkbox = [("name", rng.choice(("consent", "consents[]"))),
                    ("value", " ".join(box["purposes"])),
                    *_flag("checked", box["checked"]), *_flag("required", box["required"])]
        if box["decoys"]:
            checkbox += [("aria-checked", "false"), ("aria-required", "false")]
        question = rng.choice(data["bundled_questions"] if len(box["purposes"]) > 1
                              else data["sharing_questions"])
        info = _info(_sharing_rows(box, rng), rng, box["info"])
        boxes.append((1.0, _box_html(n, box["purposes"], question, checkbox, info, rng,
                                     wrapper, "antipiracy-v1")))
    if design["newsletter"]:
        told = data["newsletter_told"]
        rows = [(data["rows"][k], told[k]) for k in ("controller", "purpose", "data",
                                                     "withdrawal")]
        checked = _flag("checked", "bare") if design["newsletter"] == "ticked" else []
        boxes.append((rng.choice((0.5, 1.5)), _box_html(
            n, ["newsletter"], data["newsletter_question"],
            [("name", "consent"), ("value", "newsletter"), *checked], _info(rows, rng), rng,
            wrapper, None)))
    terms = ""
    if design["terms"]:
        required = _flag("required", rng.choice(("bare", "value")))
        boxes.append((2.0, _box_html(n, ["order_fulfilment"], data["terms_question"],
                                     [("name", "accept_terms"), ("value", "yes"), *required],
                                     "", rng, wrapper, "terms-v3")))
        items = list(data["terms"])
        if design["terms"] in ("clause", "mention"):
            clause = data["terms_clause" if design["terms"] == "clause" else "terms_mention"]
            items.insert(rng.randrange(1, len(items) + 1), " ".join(clause.split()))
        listed = "".join(f"    <li>{html.escape(item)}</li>\n" for item in items)
        terms = (f"<section id=\"terms\" class=\"terms\">\n  <h2>Terms of sale</h2>\n"
                 f"  <ol>\n{listed}  </ol>\n</section>\n")
    boxes.sort(key=lambda b: b[0])
    inner = "".join(b for _, b in boxes)
    if wrapper == "li":
        inner = f"    <ul class=\"choices\">\n{inner}    </ul>\n"
    token = "".join(rng.choice("0123456789abcdef") for _ in range(32))
    email = _attrs([("type", "email"), ("name", "email"), ("id", "email"),
                    ("required", None)], rng)
    name = _attrs([("type", "text"), ("name", "name"), ("id", "name"), ("required", None)],
                  rng)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
        "<title>Checkout &middot; Leesgraag</title></head>\n<body>\n"
        "<header><a href=\"/\">Leesgraag</a> &ndash; e-books</header>\n<main>\n"
        "<h1>Checkout</h1>\n<form method=\"post\" action=\"/checkout\" class=\"checkout\">\n"
        f"  <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\n"
        "  <fieldset>\n    <legend>Your order</legend>\n"
        "    <p>Het verloren archief (e-book) &mdash; &euro; 12,99</p>\n"
        f"    <label for=\"name\">Name</label> <input {name}>\n"
        f"    <label for=\"email\">E-mail address</label> <input {email}>\n"
        "  </fieldset>\n"
        "  <fieldset class=\"consents\">\n    <legend>Your choices</legend>\n"
        f"{inner}  </fieldset>\n  <button type=\"submit\">Place order</button>\n</form>\n"
        f"{terms}</main>\n</body>\n</html>\n")


# --- the exercise -------------------------------------------------------------------------

def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    forms = make_forms(variant.seed or 0)
    return {"forms": forms, "pages": {f["id"]: f["html"] for f in forms}}


def expect(attempt: Attempt) -> dict[str, set[str]]:
    return {f["id"]: verdict(f) for f in attempt.context["forms"]}


def arguments(attempt: Attempt) -> tuple[Any, ...]:
    """The pages (a copy); notes how often the reference ran before the learner's code."""
    attempt.context["verdict_calls"] = _verdict_calls[0]
    return (dict(attempt.context["pages"]),)


def reviewed_by_hand(attempt: Attempt) -> None:
    """verdict() is the reference; the learner writes the review."""
    if _verdict_calls[0] != attempt.context.get("verdict_calls", _verdict_calls[0]):
        raise PrincipleViolation(
            "task", "grading.exercises.m03_consent_forms.verdict is the reference the grader "
            "compares with; write the review yourself, rule by rule")


def _form_key(form_id: str) -> tuple[int, str]:
    return (int(form_id[1:]), form_id) if form_id[1:].isdigit() else (1 << 30, form_id)


def answer_is_well_formed(attempt: Attempt) -> None:
    """A dict with every form id, each mapped to a collection of known problem codes."""
    result = attempt.result
    check_type(result, dict, "the return value")
    missing = sorted(set(attempt.expected) - set(result), key=_form_key)
    if missing:
        raise PrincipleViolation("task", f"give a verdict for every page; missing: "
                                 f"{', '.join(map(str, missing))}")
    unknown_forms = sorted(str(f) for f in set(result) - set(attempt.expected))
    if unknown_forms:
        raise PrincipleViolation("task", "give verdicts only for the pages you were given; "
                                 f"not among them: {', '.join(unknown_forms)}")
    for form_id, codes in result.items():
        if not isinstance(codes, (set, frozenset, list, tuple)):
            raise PrincipleViolation(
                "task", f"form {form_id}: give a set of problem codes (an empty set when the "
                f"form is lawful), not {type(codes).__name__}")
        unknown = sorted({str(c) for c in codes} - set(CODES))
        if unknown:
            raise PrincipleViolation(
                "task", f"form {form_id}: unknown problem code {unknown[0]!r} (use "
                f"{', '.join(CODES)})")


def _forms(n: int) -> str:
    return "1 form has" if n == 1 else f"{n} forms have"


def verdicts_match(attempt: Attempt) -> None:
    """Each form's problems, rule by rule: the first rule with a mistake is the grade."""
    result = {k: {str(c) for c in v} for k, v in attempt.result.items()}
    designs = {f["id"]: f for f in attempt.context["forms"]}
    for code in CODES:
        missed = [f for f, codes in attempt.expected.items()
                  if code in codes and code not in result[f]]
        invented = [f for f, codes in attempt.expected.items()
                    if code in result[f] and code not in codes | tolerated(designs[f])]
        if missed:
            raise PrincipleViolation(
                "consent", f"{_forms(len(missed))} the problem '{code}' that you did not "
                f"flag ({why(code)})",
                [f"form {f} ({designs[f]['label']})" for f in sorted(missed, key=_form_key)],
                article=PROBLEMS[code][0])
        if invented:
            raise PrincipleViolation(
                "consent", f"you flagged '{code}' on {len(invented)} form(s) that do not have "
                "it: a lawful form flagged is a valid consent thrown away or a lawful design "
                "blocked, and the shop must tell valid from invalid (art. 7(1))",
                [f"form {f} ({designs[f]['label']})" for f in sorted(invented, key=_form_key)],
                article=PROBLEMS[code][0])


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="Review the checkout pages: which give valid consent to share with the foundation?",
    principles=("consent",),
    task=(
        "review_forms(cms, pages) reads the HTML of each proposed checkout page and returns "
        "{form id: set of problem codes} for the consent to antipiracy_sharing; an empty set "
        "means the page asks for valid consent."
    ),
    checks=(reviewed_by_hand, answer_is_well_formed, verdicts_match),
    points=3,
    visible=Variant(scenario="ebooks", seed=20130927, customers=50),
    hidden=Variant(scenario="ebooks", customers=50),
    prepare=prepare,
    expect=expect,
    arguments=arguments,
))
