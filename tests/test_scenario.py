from pathlib import Path

import pytest

from sandbox_cms.core.errors import ScenarioError
from sandbox_cms.data.scenario import available_scenarios, load_scenario


def test_shipped_scenarios_load():
    assert {"webshop", "ebooks"} <= set(available_scenarios())
    webshop = load_scenario("webshop")
    assert webshop.customers > 0 and webshop.products
    assert 0.01 <= webshop.repeat_buyer_rate <= 0.02  # post 4: 1-2% repeat buyers
    ebooks = load_scenario("ebooks")
    assert "antipiracy_sharing" in {c.purpose for c in ebooks.consents}


def test_overrides_keep_the_rest():
    base = load_scenario("webshop")
    other = base.with_overrides(customers=10, seed=3)
    assert (other.customers, other.seed, other.products) == (10, 3, base.products)
    with pytest.raises(ScenarioError, match="0 or more"):
        base.with_overrides(customers=-1)


def test_unknown_scenario_names_the_known_ones():
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'.*webshop"):
        load_scenario("nope")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_malformed_toml_is_reported_with_the_file(tmp_path):
    path = _write(tmp_path, "name = [unclosed")
    with pytest.raises(ScenarioError, match=r"s\.toml: not valid TOML"):
        load_scenario(path)


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        (
            "repeat_buyer_rate = 0.015",
            "repeat_buyer_rate = 1.5",
            "'repeat_buyer_rate' must be a number between 0 and 1",
        ),
        ("customers = 2000", 'customers = "many"', "'customers' must be an integer"),
        ("now = 2025-03-01", "now = 2018-01-01", "start <= end <= now"),
        ("seed = 20140301\n", "", "'seed' is missing"),
        ("seed = 20140301\n", "seed = 9223372036854775808\n", "'seed' must be at most"),
        ("customers = 2000", "customers = 10_000_001", "'customers' must be at most 10,000,000"),
        (
            "separate_checkbox = 0.85",
            "by_magic = 0.85",
            "'consents\\[0\\].methods.by_magic' is not one of",
        ),
        (
            'text_version = "newsletter-v2"',
            'text_version = "v9"',
            "no \\[\\[consent_texts\\]\\] entry",
        ),
        ('[[consents]]\npurpose = "newsletter"', '[[consents]]\npurpose = "spam"', "register"),
    ],
)
def test_invalid_values_name_file_and_key(tmp_path, replace, by, message):
    source = (Path(__file__).parent.parent / "datasets/scenarios/webshop.toml").read_text()
    assert replace in source
    path = _write(tmp_path, source.replace(replace, by, 1))
    with pytest.raises(ScenarioError, match=message):
        load_scenario(path)
