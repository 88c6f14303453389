"""The record reader: bytes from the child's record pipe -> parsed records, robust to anything.

Job: split a byte stream into JSON-line records. A line that is not a JSON object, not UTF-8,
or longer than MAX_LINE_BYTES is counted as malformed and skipped; so is a record whose
fields the parent reads have the wrong types (`FIELDS`), or that holds a non-finite or huge
number (the probe never writes those), so nothing downstream meets a surprise type. The
reader never raises and never holds more than MAX_LINE_BYTES of a partial line.
`RecordReader` runs the parser on a pipe in a thread and stamps each record with the
parent's monotonic arrival time.

Must not import: mlx, the child side.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable

MAX_LINE_BYTES = 1 << 20  # a heartbeat is ~300 bytes; 1 MiB leaves room for big notes
READ_CHUNK = 1 << 16
MAX_INT = 1 << 63  # larger integers cannot be turned into floats safely downstream
_NUMBER = (int, float)

# kind -> field -> (allowed types, required): the fields the parent computes with. Other
# fields and other kinds pass through untouched (they are only shown, never computed on).
FIELDS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "step": {"step": ((int,), True), "step_s": (_NUMBER, False), "metrics": ((dict,), False),
             "memory": ((dict,), False)},
    "progress": {"step": ((int,), True), "metrics": ((dict,), False),
                 "source": ((str,), False)},
    "eval_open": {"since": (_NUMBER, True)},
    "check": {"name": ((str,), True), "ok": ((bool,), True), "hint": ((str,), False),
              "evidence": ((dict,), False)},
    "start": {"pid": ((int,), False), "mlx_version": ((str,), False),
              "device": ((str,), False), "python": ((str,), False)},
}


def well_formed(record: object) -> bool:
    """A JSON object with a string `kind`, the field types of FIELDS, finite numbers only."""
    if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
        return False
    for name, (types, required) in FIELDS.get(record["kind"], {}).items():
        if name not in record:
            if required:
                return False
            continue
        value = record[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return False
    return _finite(record)


def _finite(value: object) -> bool:
    """No non-finite float and no int beyond MAX_INT anywhere inside `value` (a loop with
    exact type checks first: this walk is a large share of the reader's time a heartbeat)."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        for v in item.values() if kind is dict else item if kind is list else (item,):
            t = type(v)
            if t is float:
                if not math.isfinite(v):
                    return False
            elif t is int:
                if not -MAX_INT <= v <= MAX_INT:
                    return False
            elif t is dict or t is list:
                pending.append(v)
            elif t is not str and not _plain_finite(v, pending):
                return False
    return True


def _plain_finite(value: object, pending: list) -> bool:
    """The same for subclasses (not from JSON; a caller's own objects)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int):
        return -MAX_INT <= value <= MAX_INT
    if isinstance(value, (dict, list)):
        pending.append(dict(value) if isinstance(value, dict) else list(value))
    return True


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not a number the probe writes")


DECODER = json.JSONDecoder(parse_constant=_no_constants)  # made once: not per line
JSON_SPACE = " \t\n\r"  # the whitespace JSON allows around a value


def decode_line(text: str) -> object:
    """`DECODER.decode(text)` through its scanner directly: the same value or ValueError
    for the same texts, without the wrapper's two whitespace regex matches (measured: a
    third of decoding a heartbeat line)."""
    text = text.strip(JSON_SPACE)
    try:
        value, end = DECODER.scan_once(text, 0)
    except StopIteration as exc:
        raise ValueError("not a JSON value") from exc
    if end != len(text):
        raise ValueError("extra data after the JSON value")
    return value


class LineParser:
    """Incremental parser: feed bytes, get complete records; counts malformed lines."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._discarding = False  # inside an over-long line, dropping until its newline
        self.malformed = 0

    def feed(self, data: bytes) -> list[dict]:
        records: list[dict] = []
        *lines, rest = data.split(b"\n")
        if lines:
            self._take(lines[0], records, complete=True)
        for line in lines[1:]:  # after a newline: no partial line is held, none is dropped
            if len(line) > MAX_LINE_BYTES:
                self.malformed += 1
            elif line and not line.isspace():
                self._parse(line, records)
        self._take(rest, records, complete=False)
        return records

    def close(self) -> list[dict]:
        """End of stream: a non-empty unterminated last line counts as malformed."""
        if self._buffer or self._discarding:
            self.malformed += 1
        self._buffer.clear()
        self._discarding = False
        return []

    def _take(self, piece: bytes, records: list[dict], complete: bool) -> None:
        if not self._discarding:
            self._buffer += piece
            if len(self._buffer) > MAX_LINE_BYTES:
                self._buffer.clear()
                self._discarding = True
        if not complete:
            return
        if self._discarding:
            self.malformed += 1
            self._discarding = False
            return
        line = bytes(self._buffer)
        self._buffer.clear()
        if line.strip():
            self._parse(line, records)

    def _parse(self, line: bytes, records: list[dict]) -> None:
        try:
            record = decode_line(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            record = None
        try:
            ok = well_formed(record)
        except RecursionError:  # nested deeper than the checker goes: not a probe record
            ok = False
        if ok:
            records.append(record)
        else:
            self.malformed += 1


class RecordReader(threading.Thread):
    """Reads a pipe fd until EOF; calls `on_record` with each record (arrival time in 't')."""

    def __init__(self, fd: int, on_record: Callable[[dict], None]) -> None:
        super().__init__(name="mlxprobe-records", daemon=True)
        self._fd = fd
        self._on_record = on_record
        self.parser = LineParser()
        self.callback_errors = 0

    def run(self) -> None:
        try:
            while chunk := os.read(self._fd, READ_CHUNK):
                now = time.monotonic()
                for record in self.parser.feed(chunk):
                    record["t"] = now
                    self._deliver(record)
        except OSError:
            pass
        finally:
            self.parser.close()
            os.close(self._fd)

    def _deliver(self, record: dict) -> None:
        """Hand on one record; a failing callback must not stop the draining (a child whose
        record pipe fills up would block and look hung)."""
        try:
            self._on_record(record)
        except Exception:  # noqa: BLE001 - counted, never raised into the reader
            self.callback_errors += 1
