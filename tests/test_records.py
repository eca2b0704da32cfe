"""The streaming record reader agrees with json.loads/csv and names the place of an error."""

from __future__ import annotations

import json

import pytest

import sandbox_cms.data.records as records
from sandbox_cms.core.errors import RecordFileError
from sandbox_cms.data.records import detect_format, read_records

DOCUMENTS = [
    [{"a": 1}],
    [{"a": 1.5e3, "b": True, "c": None, "d": "x,y]}"}, {"n": -12345678901234}],
    [{"nested": {"list": [1, 2, {"deep": "é ✓"}]}}, {}],
    [{"s": 'a "quoted" ] string, with } and {'}, {"t": False}],
]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 16])
@pytest.mark.parametrize("document", DOCUMENTS)
@pytest.mark.parametrize("indent", [None, 2])
def test_json_array_streaming_matches_json_loads(tmp_path, monkeypatch, chunk, document, indent):
    monkeypatch.setattr(records, "_CHUNK", chunk)
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(document, indent=indent, ensure_ascii=False), encoding="utf-8")
    got = list(read_records(path))
    assert [r.fields for r in got] == document
    assert [r.where for r in got] == [f"record {i + 1}" for i in range(len(document))]


@pytest.mark.parametrize("chunk", [1, 5, 1 << 16])
def test_json_error_names_its_line_even_in_a_later_chunk(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(records, "_CHUNK", chunk)
    path = tmp_path / "doc.json"
    lines = ["["] + ['  {"a": 1},'] * 10 + ['  {"a": nope}', "]"]
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(RecordFileError, match=r"doc.json: line 12: invalid JSON"):
        list(read_records(path))


def test_json_text_after_the_list_is_an_error(tmp_path):
    path = tmp_path / "doc.json"
    path.write_text('[{"a": 1}] {"b": 2}', encoding="utf-8")
    with pytest.raises(RecordFileError, match="unexpected text after the list"):
        list(read_records(path))


def test_a_huge_json_record_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(records, "MAX_JSON_RECORD_CHARS", 1000)
    monkeypatch.setattr(records, "_CHUNK", 256)
    path = tmp_path / "doc.json"
    path.write_text(json.dumps([{"a": "x" * 5000}]), encoding="utf-8")
    with pytest.raises(RecordFileError, match="record 1 is larger than"):
        list(read_records(path))


def test_csv_records_keep_every_header_column(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("\ufeffa, b ,c\n1,2\n\n4,5,6,7\n", encoding="utf-8")
    got = list(read_records(path))
    assert [(r.where, r.fields, r.problem, r.extra) for r in got] == [
        ("line 2", {"a": "1", "b": "2", "c": None}, "has 2 fields, the header has 3", []),
        ("line 4", {"a": "4", "b": "5", "c": "6"}, "has 4 fields, the header has 3", ["7"]),
    ]


@pytest.mark.parametrize(
    ("name", "content", "fmt"),
    [
        ("x.csv", "a,b\n", "csv"),
        ("x.json", "  [", "json"),
        ("x.json", '{"a": 1}\n', "jsonl"),
        ("x.jsonl", "[1]\n", "jsonl"),
        ("x.ndjson", "{}", "jsonl"),
        ("x.txt", "\ufeff[", "json"),
        ("x.txt", "a,b", "csv"),
    ],
)
def test_detect_format(tmp_path, name, content, fmt):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert detect_format(path) == fmt


def test_a_folder_is_not_a_record_file(tmp_path):
    with pytest.raises(RecordFileError, match="is a folder"):
        list(read_records(tmp_path))


@pytest.mark.parametrize(("name", "text"), [
    ("deep.json", "[" * 100_000 + "]" * 100_000),
    ("deep.jsonl", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}\n"),
])
def test_json_nested_thousands_deep_is_a_clear_error(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RecordFileError, match=f"{name}: record 1 is nested too deeply"):
        list(read_records(path))
