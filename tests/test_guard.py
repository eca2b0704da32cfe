"""The guard refuses every kind of real-looking customer record, each with its own reason."""

from __future__ import annotations

import pytest

from sandbox_cms.data.guard import (
    check_customer,
    domain_kind,
    iban_is_valid,
    is_national_id_field,
    is_reserved_domain,
    make_iban,
    passes_elfproef,
    possible_bsns,
)


def customer(**fields) -> dict:
    record = {"first_name": "Fenna", "last_name": "Veerman", "email": "fenna@example.com"}
    record.update(fields)
    return {k: v for k, v in record.items() if v is not ...}


def test_a_synthetic_customer_is_accepted():
    record = customer(
        iban=make_iban("XMPL", 1234567890), company="Veerman Stuiterwerk B.V.",
        birth_date="1984-02-29", created_at="2024-05-01T10:00:00", phone="06-12345678",
        postcode="1234 AB", house_number="12a", country="NL",
    )
    assert check_customer(record) == []


def test_make_iban_known_value_and_both_fictional_codes_are_valid():
    # Check digits computed by hand with the ISO 13616 mod-97 algorithm.
    assert make_iban("XMPL", 1234567890) == "NL24XMPL1234567890"
    assert iban_is_valid(make_iban("SYNT", 7))
    assert make_iban("synt", 7).startswith("NL") and make_iban("synt", 7)[4:8] == "SYNT"
    with pytest.raises(ValueError):
        make_iban("XMP", 1)
    with pytest.raises(ValueError):
        make_iban("XMPL", 10**10)


def test_iban_is_valid_checks_the_check_digits():
    assert iban_is_valid("NL91ABNA0417164300")  # the textbook example IBAN
    assert iban_is_valid("nl91 abna 0417 1643 00")
    assert not iban_is_valid("NL92ABNA0417164300")
    assert not iban_is_valid("NL91ABNA041716430")
    assert not iban_is_valid("not an iban")


def test_elfproef():
    assert passes_elfproef("111222333")
    assert passes_elfproef("123456782")
    assert passes_elfproef("1234.56.782")
    assert not passes_elfproef("123456781")
    assert not passes_elfproef("000000000")
    assert not passes_elfproef("12345678")
    assert possible_bsns("ref 123456782, tel 0612345678, hash a123456782b") == ["123456782"]
    assert possible_bsns("1234.56.782 / 111.222.333 / 111 222 333") == [
        "1234.56.782", "111.222.333", "111 222 333"]
    assert possible_bsns("111.222 333 and 1.123456782 and 123456782.5") == []


@pytest.mark.parametrize("domain", ["example.com", "EXAMPLE.org", "shop.example.net",
                                    "springveer.test", "a.b.example", "nobody.invalid"])
def test_reserved_domains(domain):
    assert is_reserved_domain(domain)


@pytest.mark.parametrize("domain", ["gmail.com", "example.nl", "myexample.com", "example.com.nl",
                                    "test.com", "ziggo.nl"])
def test_real_domains_are_not_reserved(domain):
    assert not is_reserved_domain(domain)


def test_domain_kind_names_free_mail_and_providers():
    assert domain_kind("gmail.com") == "free-mail"
    assert domain_kind("ziggo.nl") == "provider"
    assert domain_kind("acme-webshop.nl") == "other"
    assert domain_kind("x.example.com") == "reserved"


@pytest.mark.parametrize("name", ["bsn", "BSN", "klant_bsn", "burgerservicenummer", "ssn",
                                  "national_id", "NationalID", "sofinummer"])
def test_national_id_field_names(name):
    assert is_national_id_field(name)


@pytest.mark.parametrize("name", ["email", "first_name", "business", "company", "subsn"])
def test_ordinary_field_names(name):
    assert not is_national_id_field(name)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"email": "planted-refused-jan@gmail.com"},
         "e-mail domain gmail.com is not a reserved example domain"),
        ({"email": "jan@example.nl"}, "e-mail domain example.nl is not a reserved example domain"),
        ({"email": "no-at-sign.example.com"}, "e-mail is not a valid address"),
        ({"iban": "NL91ABNA0417164300"},
         "IBAN has the real bank code ABNA (ABN AMRO Bank); "
         "use a fictional bank code (XMPL, SYNT)"),
        ({"iban": make_iban("ABCD", 1)},
         "IBAN bank code ABCD is not a fictional bank code (XMPL, SYNT)"),
        ({"iban": "NL00XMPL1234567890"}, "IBAN is not valid (wrong shape or check digits)"),
        ({"bsn": "111222333"}, "field 'bsn' holds a national ID number"),
        ({"burgerservicenummer": ""},
         "field 'burgerservicenummer' is a national ID field (a webshop needs none)"),
        ({"phone": "123456782"},
         "field 'phone' holds a 9-digit number that passes the 11-proof (a possible BSN)"),
        ({"company": "Shell Nederland B.V."},
         "company 'Shell Nederland B.V.' is a real company (Shell)"),
        ({"company": "Kruidvat"}, "company 'Kruidvat' is a real company (Kruidvat)"),
        ({"first_name": ...}, "required field 'first_name' is missing"),
        ({"last_name": "  "}, "required field 'last_name' is missing"),
        ({"email": None}, "required field 'email' is missing"),
        ({"house_number": 12}, "field 'house_number' must be text, not a number"),
        ({"birth_date": "29-02-1984"},
         "field 'birth_date' must be an ISO date (YYYY-MM-DD), not '29-02-1984'"),
        ({"created_at": "yesterday"},
         "field 'created_at' must be an ISO date or date-time, not 'yesterday'"),
        ({"shoe_size": "44"}, "field 'shoe_size' is not a customer field"),
        ({"city": "Veer\x00dam"}, "field 'city' holds a control character"),
        ({"email": "x" * 250 + "@example.com"}, "e-mail is longer than 254 characters (RFC 5321)"),
        ({"email": "x" * 2000 + "@example.com"}, "field 'email' is longer than 1,000 characters"),
        ({"street": "Springlaan " * 100}, "field 'street' is longer than 1,000 characters"),
    ],
)
def test_each_refusal_reason(fields, reason):
    assert check_customer(customer(**fields)) == [reason]


def test_faker_real_company_list_is_used():
    from faker.providers.company.nl_NL import Provider

    real = Provider.large_companies[0]
    reasons = check_customer(customer(company=real))
    assert reasons == [f"company '{real}' is a real company ({real})"]


def test_all_reasons_of_one_record_are_reported():
    reasons = check_customer(
        customer(email="planted-refused-x@hotmail.com", iban="NL91ABNA0417164300", bsn="1")
    )
    assert len(reasons) == 3


def test_every_generated_customer_passes_the_guard(db_path):
    """The sandbox's own synthetic customers are exactly what the guard lets in."""
    import sqlite3

    from sandbox_cms.data.guard import CUSTOMER_FIELDS

    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    rows = conn.execute(f"SELECT {', '.join(CUSTOMER_FIELDS)} FROM customers").fetchall()
    conn.close()
    assert len(rows) > 100
    refused = {i: check_customer(dict(row)) for i, row in enumerate(rows)}
    assert {i: r for i, r in refused.items() if r} == {}
    assert any(row["iban"] for row in rows) and any(row["company"] for row in rows)


def test_every_listed_company_is_recognised_in_its_usual_spellings():
    from sandbox_cms.data.guard import real_company
    from sandbox_cms.data.reference import load_reference

    names = list(load_reference().companies.values())
    assert len(names) > 400
    for name in names:
        for spelling in (name, name.upper(), f"{name} B.V.", f"Koninklijke {name} N.V."):
            assert real_company(spelling) is not None, spelling
