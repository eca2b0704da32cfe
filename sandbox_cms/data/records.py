"""Read records from a CSV, JSON or JSON Lines file, streaming, with clear errors.

Shared by ``sandbox-cms import`` and ``sandbox-cms scan``. Each record carries where it was
found, as a person would count it: the physical line of a CSV file (the header is line 1),
the line of a JSON Lines file, or the position in a JSON array ("record 3"). Anything that
makes the file unreadable raises :class:`RecordFileError` with a one-line message.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sandbox_cms.core.errors import RecordFileError

MAX_BYTES = 100 * 1024 * 1024
MAX_RECORDS = 1_000_000
MAX_JSON_RECORD_CHARS = 1024 * 1024
_CHUNK = 1 << 16
SQLITE_HEADER = b"SQLite format 3\x00"

Format = Literal["csv", "json", "jsonl"]


@dataclass(frozen=True)
class Record:
    """One record: where it is (``line 7`` / ``record 3``) and its fields."""

    where: str
    fields: dict[str, Any]
    problem: str | None = None  # set when the row itself is malformed (e.g. too many fields)
    extra: list[str] = field(default_factory=list)  # CSV values beyond the header


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_size(path: Path, max_bytes: int = MAX_BYTES) -> int:
    """The file size, or a RecordFileError when the file is missing, empty or too large."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise RecordFileError(f"{path.name}: no such file") from None
    if path.is_dir():
        raise RecordFileError(f"{path.name}: is a folder, not a file")
    if size == 0:
        raise RecordFileError(f"{path.name}: the file is empty")
    if size > max_bytes:
        raise RecordFileError(
            f"{path.name}: the file is {size / 2**20:.1f} MB, more than the limit of "
            f"{max_bytes / 2**20:.0f} MB; split it into smaller files"
        )
    return size


def detect_format(path: Path) -> Format:
    """csv, json (an array) or jsonl, from the extension or else the first character."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise RecordFileError(f"{path.name}: cannot be read ({exc.strerror})") from None
    if head.startswith(SQLITE_HEADER):
        raise RecordFileError(f"{path.name}: is a SQLite database, not a CSV or JSON file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if first == b"[":
        return "json"
    if first == b"{":
        return "jsonl"
    if suffix == ".json":
        return "json"
    return "csv"


def read_records(
    path: Path, fmt: Format | None = None, *, max_bytes: int = MAX_BYTES,
    max_records: int | None = MAX_RECORDS, allow_empty: bool = False,
) -> Iterator[Record]:
    """Yield the records of a file one by one; raise RecordFileError when it is unreadable.

    ``max_records=None`` means no limit on the number of records. An empty file, or one
    without records, is an error unless ``allow_empty``.
    """
    path = Path(path)
    if allow_empty and path.is_file() and path.stat().st_size == 0:
        return
    check_size(path, max_bytes)
    fmt = fmt or detect_format(path)
    readers = {"csv": _csv_records, "json": _json_array_records, "jsonl": _jsonl_records}
    count = 0
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as fh:
            for record in readers[fmt](fh, path.name):
                count += 1
                if max_records is not None and count > max_records:
                    raise RecordFileError(
                        f"{path.name}: more than {max_records:,} records; split the file"
                    )
                yield record
    except OSError as exc:
        raise RecordFileError(f"{path.name}: cannot be read ({exc.strerror})") from None
    except RecursionError:  # json gives up on lists or objects nested thousands deep
        raise RecordFileError(
            f"{path.name}: record {count + 1} is nested too deeply to be a customer record"
        ) from None
    except UnicodeDecodeError as exc:
        raise RecordFileError(
            f"{path.name}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} cannot be read); "
            "save the file as UTF-8"
        ) from None
    if count == 0 and not allow_empty:
        raise RecordFileError(f"{path.name}: holds no records")


def _csv_records(fh: io.TextIOBase, name: str) -> Iterator[Record]:
    reader = csv.reader(fh)
    try:
        header = next(reader, None)
        if header is None:
            return
        header = [column.strip() for column in header]
        if not any(header):
            raise RecordFileError(f"{name}: line 1: the header row is empty")
        if "" in header:
            raise RecordFileError(f"{name}: line 1: column {header.index('') + 1} has no name")
        duplicates = sorted({c for c in header if header.count(c) > 1})
        if duplicates:
            raise RecordFileError(f"{name}: line 1: duplicate column(s): {', '.join(duplicates)}")
        line = reader.line_num + 1
        for row in reader:
            where = f"line {line}"
            line = reader.line_num + 1
            if not any(value.strip() for value in row):
                continue  # a blank line
            # Every header column is a key; a short row leaves the last ones None.
            fields = {column: row[i] if i < len(row) else None for i, column in enumerate(header)}
            problem = None
            extra: list[str] = []
            if len(row) > len(header):
                extra = row[len(header):]
                problem = f"has {len(row)} fields, the header has {len(header)}"
            elif len(row) < len(header):
                problem = f"has {len(row)} fields, the header has {len(header)}"
            yield Record(where, fields, problem, extra)
    except csv.Error as exc:
        raise RecordFileError(f"{name}: line {reader.line_num}: malformed CSV ({exc})") from None


def _record(where: str, value: Any) -> Record:
    if isinstance(value, dict):
        return Record(where, value)
    # Kept under "value" so that a scan still sees it; an import refuses the record.
    return Record(where, {"value": value}, f"is not a JSON object but {type(value).__name__}")


def _jsonl_records(fh: io.TextIOBase, name: str) -> Iterator[Record]:
    for number, line in enumerate(fh, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordFileError(
                f"{name}: line {number}: invalid JSON ({exc.msg}); expected one object per line "
                "or a list of objects"
            ) from None
        yield _record(f"line {number}", value)


def _json_array_records(fh: io.TextIOBase, name: str) -> Iterator[Record]:
    """Stream the objects of a top-level JSON array without loading the whole file."""
    decoder = json.JSONDecoder()
    buffer, pos, eof = "", 0, False
    newlines_before = 0  # line breaks in the text already dropped from the buffer

    def fail(message: str) -> RecordFileError:
        line = 1 + newlines_before + buffer.count("\n", 0, pos)
        return RecordFileError(f"{name}: line {line}: invalid JSON ({message})")

    def more() -> bool:
        nonlocal buffer, pos, eof, newlines_before
        if eof:
            return False
        chunk = fh.read(_CHUNK)
        if not chunk:
            eof = True
            return False
        newlines_before += buffer.count("\n", 0, pos)
        buffer, pos = buffer[pos:] + chunk, 0
        return True

    def truncated(exc: json.JSONDecodeError) -> bool:
        """Could more text fix this error? Only if the parser ran out of text."""
        return exc.msg.startswith("Unterminated") or exc.pos >= len(buffer) - 8

    def skip_space() -> str:
        nonlocal pos
        while True:
            while pos < len(buffer) and buffer[pos] in " \t\r\n":
                pos += 1
            if pos < len(buffer):
                return buffer[pos]
            if not more():
                return ""

    if skip_space() != "[":
        raise fail("expected a list of objects '[' at the start")
    pos += 1
    index = 0
    if skip_space() == "]":
        pos += 1
    else:
        while True:
            skip_space()
            while True:
                try:
                    value, end = decoder.raw_decode(buffer, pos)
                except json.JSONDecodeError as exc:
                    if len(buffer) - pos > MAX_JSON_RECORD_CHARS:
                        raise RecordFileError(
                            f"{name}: record {index + 1} is larger than "
                            f"{MAX_JSON_RECORD_CHARS // 1024} KB or is not valid JSON"
                        ) from None
                    if truncated(exc) and more():
                        continue
                    pos = exc.pos
                    raise fail(exc.msg) from None
                # A number or literal may continue in the next chunk: make sure it ended.
                if end == len(buffer) and more():
                    continue
                break
            pos = end
            index += 1
            yield _record(f"record {index}", value)
            separator = skip_space()
            if separator == ",":
                pos += 1
                continue
            if separator == "]":
                pos += 1
                break
            raise fail("expected ',' or ']' after a record" if separator else "the list never ends")
    if skip_space():
        raise fail("unexpected text after the list")
