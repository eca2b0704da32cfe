"""Exercise 03-consent-forms: judge checkout designs against the rules for valid consent.

The learner writes ``review_forms(cms, forms) -> {form id: set of problem codes}`` for the
consent to share buyer details with the anti-piracy foundation (``antipiracy_sharing``).
A form is plain data (its boxes, whether a box is pre-ticked or required, what its text
tells, whether the terms mention the sharing, how a buyer withdraws). The reference
verdict follows art. 4(11), 7 GDPR and EDPB Guidelines 05/2020; four problem codes are the
consent methods of ``datasets/policy/consent_rules.toml`` and carry its reasons, two are
about the form as a whole (informed, paras 64-65; withdrawal as easy as consent, 7(3)).
The forms are generated from the variant's seed, so each variant has other forms; the
boundary forms of ``BOUNDARIES`` are in every variant, so that each rule read wrongly (any
required box, any pre-ticked box, terms that merely describe the sharing, a right to
withdraw without a route, a text that does not name the recipient) gets a failing grade.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from typing import Any

from grading.checks import PrincipleViolation, check_type
from grading.harness import Attempt, Exercise, Variant, register
from sandbox_cms.privacy.consent import load_methods

EXERCISE_ID = "03-consent-forms"
PURPOSE = "antipiracy_sharing"
# What an informed consent to this disclosure must tell: who asks (the shop), for what, which
# data, the right to withdraw (EDPB Guidelines 05/2020 para 64), and who receives the data
# (para 65: other controllers relying on the consent are named; art. 13(1)(e)).
MUST_TELL = ("controller", "recipient", "purpose", "data", "withdrawal")
EASY_WITHDRAWAL = ("account", "email_link")

# problem code -> (article the grade cites, why; None = the reason in consent_rules.toml)
PROBLEMS: dict[str, tuple[str, str | None]] = {
    "pre_ticked": ("art. 4(11) GDPR, recital 32; EDPB Guidelines 05/2020 para 79", None),
    "bundled_terms": ("art. 7(2) GDPR, recital 42; EDPB Guidelines 05/2020 para 81", None),
    "bundled_purposes": ("art. 6(1)(a) GDPR, recital 43; EDPB Guidelines 05/2020 paras 42-44",
                         None),
    "required_for_checkout": ("art. 7(4) GDPR, recital 43; EDPB Guidelines 05/2020 "
                              "paras 26-37", None),
    "not_informed": ("art. 4(11), 7(3) GDPR; EDPB Guidelines 05/2020 paras 64-65",
                     "consent must be informed: the text must name the controller, the "
                     "recipient who gets the data, the purpose, the data and the right to "
                     "withdraw"),
    "hard_to_withdraw": ("art. 7(3) GDPR; EDPB Guidelines 05/2020 paras 114-123",
                         "withdrawing must be as easy as giving consent: a click at checkout "
                         "cannot be undone only by letter or phone, and a right to withdraw "
                         "with no way to do it is no right"),
}
CODES = tuple(PROBLEMS)

WITHDRAW_TEXT = {
    "account": "withdraw at any time in your account",
    "email_link": "withdraw at any time with the link in every order e-mail",
    "letter": "withdraw by sending a signed letter to our office",
    "phone": "withdraw by calling customer service on working days",
    "none": "withdraw at any time",  # says so, but the shop offers no way to do it
}
FOUNDATION = "Stichting Kopieerwacht, the anti-piracy foundation,"


def sharing_text(tells: list[str], withdraw_via: str = "account", required: bool = False,
                 bundled: bool = False) -> str:
    """The sharing box's text, telling exactly the items in ``tells``."""
    who = "Leesgraag B.V. may pass" if "controller" in tells else "We may pass"
    what = "your name, e-mail address and order number" if "data" in tells else "your details"
    whom = FOUNDATION if "recipient" in tells else "third parties"
    why = ("if a copy of a book you bought turns up on an illegal download site"
           if "purpose" in tells else "where this is useful")
    text = f"{who} {what} to {whom} {why}."
    if bundled:
        text += " And send me the Leesgraag newsletter."
    if required:
        text += " (Required to complete your order.)"
    else:
        text += " You can buy without agreeing."
    if "withdrawal" in tells:
        text += f" You can {WITHDRAW_TEXT[withdraw_via]}."
    return text


NEWSLETTER_BOX = {"text": "Send me the Leesgraag newsletter.", "purposes": ["newsletter"],
                  "pre_ticked": False, "required": False,
                  "tells": ["controller", "purpose", "withdrawal"]}
# A box the order needs: delivering the e-book rests on the contract (art. 6(1)(b)), not on
# consent, so requiring it is no art. 7(4) problem for the sharing consent.
ORDER_BOX = {"text": "I accept the terms of sale: Leesgraag B.V. uses my name and e-mail "
             "address to deliver the e-book. (Required to complete your order.)",
             "purposes": ["order_fulfilment"], "pre_ticked": False, "required": True,
             "tells": ["controller", "purpose", "data"]}

# Boundary forms, in every variant: (label, what is changed on a valid form). Each tells a
# right reading of one rule from a plausible wrong one.
BOUNDARIES: tuple[tuple[str, str], ...] = (
    ("a required box for the contract beside a free sharing box", "order_box"),
    ("a pre-ticked newsletter box beside an unticked sharing box", "pre_ticked_newsletter"),
    ("a separate, unticked newsletter box", "newsletter_box"),
    ("terms that also describe the sharing, beside its own box", "terms_describe"),
    ("withdrawal through the link in every order e-mail", "email_link"),
    ("a right to withdraw but no way to do it", "no_route"),
    ("a text that names the shop but not the foundation", "no_recipient"),
    ("a text that names the foundation but not the shop", "no_controller"),
    ("withdrawal only by phone", "phone"),
)


def why(code: str) -> str:
    """The plain reason a form with this problem gives no valid consent."""
    reason = PROBLEMS[code][1]
    return reason if reason is not None else load_methods()[code].reason


def _boundary(change: str, form: dict[str, Any]) -> None:
    """Make one boundary form from a valid one (in place)."""
    box = form["boxes"][0]
    if change == "order_box":
        form["boxes"].append(copy.deepcopy(ORDER_BOX))
    elif change == "pre_ticked_newsletter":
        form["boxes"].append({**copy.deepcopy(NEWSLETTER_BOX), "pre_ticked": True})
    elif change == "newsletter_box":
        form["boxes"].append(copy.deepcopy(NEWSLETTER_BOX))
    elif change == "terms_describe":
        form["terms_mention_sharing"] = True
    elif change in ("email_link", "phone"):
        form["withdraw_via"] = change
    elif change == "no_route":
        form["withdraw_via"] = "none"
    elif change == "no_recipient":
        box["tells"] = [t for t in MUST_TELL if t != "recipient"]
    elif change == "no_controller":
        box["tells"] = [t for t in MUST_TELL if t != "controller"]
    else:
        raise ValueError(change)


def _valid_form() -> dict[str, Any]:
    return {
        "boxes": [{"text": "", "purposes": [PURPOSE], "pre_ticked": False,
                   "required": False, "tells": list(MUST_TELL)}],
        "terms_mention_sharing": False,
        "withdraw_via": "account",
    }


def _with(problem: str, form: dict[str, Any], rng: random.Random) -> None:
    """Give ``form`` one problem (in place)."""
    box = form["boxes"][0]
    if problem == "pre_ticked":
        box["pre_ticked"] = True
    elif problem == "bundled_terms":
        form["boxes"].pop(0)
        form["terms_mention_sharing"] = True
    elif problem == "bundled_purposes":
        box["purposes"] = [PURPOSE, "newsletter"]
    elif problem == "required_for_checkout":
        box["required"] = True
    elif problem == "not_informed":
        missing = rng.choice(MUST_TELL)
        box["tells"] = [t for t in MUST_TELL if t != missing]
    elif problem == "hard_to_withdraw":
        form["withdraw_via"] = rng.choice(["letter", "phone"])


# Problems that can share one form (bundled_terms removes the box, so it stands alone).
PAIRS = (("pre_ticked", "required_for_checkout"), ("bundled_purposes", "not_informed"),
         ("pre_ticked", "hard_to_withdraw"), ("required_for_checkout", "not_informed"))


def make_forms(seed: int) -> list[dict[str, Any]]:
    """Forms for one variant: two valid ones, each problem alone, two with two problems and
    every boundary form, in a seeded order; a newsletter box appears on some of the others
    as a distraction."""
    return _generate(seed)[0]


def boundary_forms(seed: int) -> dict[str, str]:
    """Which form of the variant with this seed is which boundary: label -> form id."""
    return _generate(seed)[1]


def _generate(seed: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    rng = random.Random(f"consent-forms-{seed}")
    designs: list[tuple[str, ...]] = [(), (), *((c,) for c in CODES), *rng.sample(PAIRS, 2)]
    designs += [("boundary", label) for label, _ in BOUNDARIES]
    rng.shuffle(designs)
    forms, labels = [], {}
    changes = dict(BOUNDARIES)
    for n, design in enumerate(designs, start=1):
        form = _valid_form()
        if design[:1] == ("boundary",):
            _boundary(changes[design[1]], form)
            labels[design[1]] = f"F{n}"
        else:
            for problem in design:
                _with(problem, form, rng)
        for box in form["boxes"]:
            if PURPOSE in box["purposes"]:
                box["text"] = sharing_text(box["tells"], form["withdraw_via"], box["required"],
                                           len(box["purposes"]) > 1)
        if design[:1] != ("boundary",) and rng.random() < 0.5:
            form["boxes"].append(copy.deepcopy(NEWSLETTER_BOX))
        forms.append({"id": f"F{n}", **form})
    return forms, labels


_verdict_calls = [0]  # how often verdict() ran; the learner's code must not call it


def verdict(form: Mapping[str, Any]) -> set[str]:
    """The reference: which problems keep this form from giving valid sharing consent."""
    _verdict_calls[0] += 1
    problems = set()
    boxes = [b for b in form["boxes"] if PURPOSE in b["purposes"]]
    if not boxes and form.get("terms_mention_sharing"):
        problems.add("bundled_terms")
    for box in boxes:
        if box["pre_ticked"]:
            problems.add("pre_ticked")
        if len(box["purposes"]) > 1:
            problems.add("bundled_purposes")
        if box["required"]:
            problems.add("required_for_checkout")
        if not set(MUST_TELL) <= set(box["tells"]):
            problems.add("not_informed")
    if form["withdraw_via"] not in EASY_WITHDRAWAL:
        problems.add("hard_to_withdraw")
    return problems


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    forms = make_forms(variant.seed or 0)
    return {"forms": forms}


def expect(attempt: Attempt) -> dict[str, set[str]]:
    return {f["id"]: verdict(f) for f in attempt.context["forms"]}


def arguments(attempt: Attempt) -> tuple[Any, ...]:
    """The forms (a copy); notes how often the reference ran before the learner's code."""
    attempt.context["verdict_calls"] = _verdict_calls[0]
    return (copy.deepcopy(attempt.context["forms"]),)


def reviewed_by_hand(attempt: Attempt) -> None:
    """verdict() is the reference; the learner writes the review."""
    if _verdict_calls[0] != attempt.context.get("verdict_calls", _verdict_calls[0]):
        raise PrincipleViolation(
            "task", "grading.exercises.m03_consent_forms.verdict is the reference the grader "
            "compares with; write the review yourself, rule by rule")


def answer_is_well_formed(attempt: Attempt) -> None:
    """A dict with every form id, each mapped to a collection of known problem codes."""
    result = attempt.result
    check_type(result, dict, "the return value")
    missing = sorted(set(attempt.expected) - set(result), key=lambda f: int(f[1:]))
    if missing:
        raise PrincipleViolation("task", f"give a verdict for every form; missing: "
                                 f"{', '.join(map(str, missing))}")
    unknown_forms = sorted(str(f) for f in set(result) - set(attempt.expected))
    if unknown_forms:
        raise PrincipleViolation("task", "give verdicts only for the forms you were given; "
                                 f"not among them: {', '.join(unknown_forms)}")
    for form_id, codes in result.items():
        if not isinstance(codes, (set, frozenset, list, tuple)):
            raise PrincipleViolation(
                "task", f"form {form_id}: give a set of problem codes (an empty set when the "
                f"form is valid), not {type(codes).__name__}")
        unknown = sorted({str(c) for c in codes} - set(CODES))
        if unknown:
            raise PrincipleViolation(
                "task", f"form {form_id}: unknown problem code {unknown[0]!r} (use "
                f"{', '.join(CODES)})")


def _describe(code: str, form: Mapping[str, Any]) -> str:
    """A form with a missed problem, with the detail that shows it."""
    if code == "not_informed":
        told = set().union(*(b["tells"] for b in form["boxes"] if PURPOSE in b["purposes"]))
        untold = [t for t in MUST_TELL if t not in told]
        return f"form {form['id']} (the sharing text does not tell: {', '.join(untold)})"
    if code == "hard_to_withdraw":
        return f"form {form['id']} (withdrawal: {form['withdraw_via']})"
    return f"form {form['id']}"


def _forms(n: int) -> str:
    return "1 form has" if n == 1 else f"{n} forms have"


def verdicts_match(attempt: Attempt) -> None:
    """Each form's problems, rule by rule: the first rule with a mistake is the grade."""
    result = {k: set(v) for k, v in attempt.result.items()}
    for code in CODES:
        missed = [f for f, codes in attempt.expected.items()
                  if code in codes and code not in result.get(f, set())]
        invented = [f for f, codes in attempt.expected.items()
                    if code not in codes and code in result.get(f, set())]
        if missed:
            forms = {f["id"]: f for f in attempt.context["forms"]}
            raise PrincipleViolation(
                "consent", f"{_forms(len(missed))} the problem '{code}' that you did not "
                f"flag ({why(code)})", [_describe(code, forms[f]) for f in missed],
                article=PROBLEMS[code][0])
        if invented:
            raise PrincipleViolation(
                "consent", f"you flagged '{code}' on {len(invented)} form(s) that do not have "
                "it; a valid consent wrongly thrown away is a lost consent, and the shop must "
                "be able to tell valid from invalid", [f"form {f}" for f in invented],
                article=PROBLEMS[code][0])


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="Which checkout designs give valid consent to share with the foundation?",
    principles=("consent",),
    task=(
        "review_forms(cms, forms) returns {form id: set of problem codes} for the consent "
        "to antipiracy_sharing; an empty set means the form gives valid consent."
    ),
    checks=(reviewed_by_hand, answer_is_well_formed, verdicts_match),
    points=3,
    visible=Variant(scenario="ebooks", seed=20130927, customers=50),
    hidden=Variant(scenario="ebooks", customers=50),
    prepare=prepare,
    expect=expect,
    arguments=arguments,
))
