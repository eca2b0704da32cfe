"""Reference lists load, validate, and name the file and key when something is wrong."""

from __future__ import annotations

import shutil

import pytest

from sandbox_cms.core.errors import ReferenceDataError
from sandbox_cms.data.reference import REFERENCE_DIR, load_reference, normalise_company


def test_shipped_reference_lists_load():
    ref = load_reference()
    assert ref.fictional_banks == ("XMPL", "SYNT")
    assert {"ABNA", "INGB", "RABO", "SNSB", "ASNB", "TRIO", "KNAB", "BUNQ"} <= set(ref.real_banks)
    assert {"example.com", "example.net", "example.org"} == ref.reserved_domains
    assert {"test", "example", "invalid"} == ref.reserved_tlds
    assert "gmail.com" in ref.free_mail
    assert "Kruidvat" in ref.companies.values()


def test_every_reference_file_says_where_it_comes_from():
    for path in REFERENCE_DIR.glob("*.toml"):
        text = path.read_text(encoding="utf-8")
        assert "source =" in text and "retrieved =" in text, path.name


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        ("fictional_banks.toml", 'source = "x"\nretrieved = 2026-01-01\ncodes = ["xmpl1"]\n',
         "fictional_banks.toml: key 'codes' item 1 ('xmpl1') is malformed"),
        ("fictional_banks.toml", 'source = "x"\ncodes = ["XMPL"]\n',
         "fictional_banks.toml: key 'retrieved' is missing"),
        ("nl_banks.toml", 'source = "x"\nretrieved = 2026-01-01\n[codes]\nXMPL = "Fake"\n',
         "nl_banks.toml: key 'codes.XMPL' is also a fictional bank code"),
        ("reserved_domains.toml", "source = [", "reserved_domains.toml: not valid TOML"),
    ],
)
def test_bad_reference_file_names_file_and_key(tmp_path, file, text, message):
    directory = tmp_path / "reference"
    shutil.copytree(REFERENCE_DIR, directory)
    (directory / file).write_text(text, encoding="utf-8")
    with pytest.raises(ReferenceDataError) as info:
        load_reference(directory)
    assert message in str(info.value)


def test_missing_reference_file(tmp_path):
    with pytest.raises(ReferenceDataError, match="reserved_domains.toml: reference file is"):
        load_reference(tmp_path)


def test_normalise_company_ignores_case_accents_and_legal_form():
    assert normalise_company("Koninklijke Shell Nederland B.V.") == normalise_company("shell")
    assert normalise_company("HUNKEMÖLLER") == normalise_company("Hunkemöller")
    assert normalise_company("Veerman Stuiterwerk B.V.") == "veerman stuiterwerk"
