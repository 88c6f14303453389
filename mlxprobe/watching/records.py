"""The record reader: bytes from the child's record pipe -> parsed records, robust to anything.

Job: split a byte stream into JSON-line records. A line that is not a JSON object, not UTF-8,
or longer than MAX_LINE_BYTES is counted as malformed and skipped; so is a record whose
fields the parent reads have the wrong types (`FIELDS`), or that holds a non-finite or huge
number (the probe never writes those), so nothing downstream meets a surprise type. A
`beats` line (`packing`: a fast loop's steps in one line) becomes a `packing.Block` (its
records made into dicts only where the store keeps them), joined with the lines of the
same shape next to it in one read, checked column by column and stamped with arrival times
from the child's clock (`stamp`): `feed` returns records and blocks, in order. The reader
never raises and never holds more than MAX_LINE_BYTES of a partial line.

`RecordReader` runs the parser on a pipe in a thread and hands each read's records on
together. Where the pipe's buffer can be made PIPE_BYTES large (Linux), it sleeps up to
PAUSE_S after a read of BUSY_BYTES or more (a child beating fast), never so long that the
pipe would fill past half (`pause`): a few large reads a second cost far less than hundreds
of small ones; a slow child's records are read as they come (or,
with `idle_pause_s`, at most that often: `watch`, whose deadlines are 5 s and more). The
records' times come from the child's clock (`stamp`), so a pause does not make them late.

Lines are decoded by orjson (measured here: 1.1 us a heartbeat line against 6.6 us for the
standard library's json), which refuses NaN, Infinity and numbers that overflow a double;
integers beyond MAX_INT are found by a digit-run search on the raw read (a line where one is
found is decoded again by the standard library and walked).

Must not import: mlx, the child side.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import struct
import termios
import threading
import time
from collections.abc import Callable
from itertools import accumulate

import orjson

from ..packing import NESTED, Block, unpack
from ..protocol import BEATS, STEP

Item = dict | Block  # what the parser gives: a record, or a block of step records
MAX_LINE_BYTES = 1 << 20  # a heartbeat is ~300 bytes; 1 MiB leaves room for big notes
READ_CHUNK = 1 << 20
PIPE_BYTES = 1 << 20  # the record pipe's buffer where it can be enlarged (Linux's default cap)
PAUSE_S = 0.25  # at most, after a large read, once the buffer is that large
BUSY_BYTES = 1 << 14  # a read this large: the child beats fast (a slow one is read at once)
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
    return typed(record) and _finite(record)


def typed(record: object) -> bool:
    """A JSON object with a string `kind` and the field types of FIELDS."""
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
    return True


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


DIGITS = bytes.maketrans(b"123456789", b"000000000")
LONG_RUN = b"0" * 19  # an integer with 19 digits or more may exceed MAX_INT (2**63)


def decode_line(line: bytes) -> object:
    """The JSON value of a line, or ValueError: orjson (which refuses non-finite numbers);
    a line holding a run of 19 digits is decoded again by the standard library (orjson
    turns integers beyond 64 bits into floats) and walked for integers beyond MAX_INT."""
    value = orjson.loads(line)
    if LONG_RUN in line.translate(DIGITS):
        value = json.loads(line, parse_constant=_no_constants)
        if not _finite(value):
            raise ValueError("an integer beyond what the probe writes")
    return value


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not a number the probe writes")


def checked(block: Block) -> bool:
    """A block's step records meet FIELDS["step"], checked a column at a time (orjson
    refused any non-finite number, `feed` any integer beyond MAX_INT; `metrics` and
    `memory` are dicts, made by the block)."""
    for name, (types, required) in FIELDS[STEP].items():
        if name in NESTED:
            continue
        column = block.column(name)
        if column is None:
            if required and len(block):
                return False
        elif not set(map(type, column)) <= set(types):
            return False
    return True


def stamp(block: Block, now: float, wall: float | None = None) -> None:
    """Arrival times on the parent's clock: each record when the child's clock ("time",
    the same system clock as `wall`, read with `now`) says it was written, so a reader
    that paused does not make them late; never after `now`, never decreasing. Without
    `wall`, or when the clocks disagree by more than MAX_LAG_S (a clock step), the last
    record arrived `now`; without the child's clock, all did."""
    sent = block.column("time")
    try:
        if sent is not None and sent == sorted(sent):  # the usual case: one shift
            lag = 0.0 if wall is None else wall - sent[-1]
            shift = now - sent[-1] - (lag if 0.0 <= lag <= MAX_LAG_S else 0.0)
            block.t = [x + shift for x in sent]
        elif sent is not None:  # the child's clock stepped back: never after the next one
            block.t = list(accumulate((now - max(0.0, sent[-1] - x) for x in sent), max))
        else:
            block.t = [now] * len(block)
    except TypeError:  # a time that is not a number
        block.t = [now] * len(block)


MAX_LAG_S = 2.0  # a read later than this after the write: the clocks are not to be trusted


def arrived(record: dict, now: float, wall: float | None) -> float:
    """A lone record's arrival time, as `stamp` gives a block's: when the child's clock
    ("time") says it was written, where the clocks agree; else `now`. A lone step record
    read with later blocks was once stamped `now` while they got their writing times:
    its heartbeat came after theirs (fresh328 `bandsaw_filter_trim`: step 1109 stamped
    0.23 s after step 1126, given the RSS sample of the run's end, read as a leak)."""
    sent = record.get("time")
    if wall is None or type(sent) not in (int, float):
        return now
    lag = wall - sent
    return now - lag if 0.0 <= lag <= MAX_LAG_S else now


class LineParser:
    """Incremental parser: feed bytes, get complete records; counts malformed lines."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._discarding = False  # inside an over-long line, dropping until its newline
        self._now: float | None = None
        self._wall: float | None = None
        self.malformed = 0

    def feed(self, data: bytes, now: float | None = None,
             wall: float | None = None) -> list[Item]:
        """The complete records in `data` (with what came before it); with `now`, each is
        stamped with its arrival time ("t"; `wall`: the system clock read with it, `stamp`)."""
        self._now, self._wall = now, wall
        records: list[Item] = []
        *lines, rest = data.split(b"\n")
        if lines:
            self._take(lines[0], records, complete=True)
        plain = LONG_RUN not in data.translate(DIGITS)  # no huge integer in the lines below
        for line in lines[1:]:  # after a newline: no partial line is held, none is dropped
            if len(line) > MAX_LINE_BYTES:
                self.malformed += 1
            elif line and not line.isspace():
                self._parse(line, records, plain)
        self._take(rest, records, complete=False)
        return self._blocks_done(records, now, wall)

    def _blocks_done(self, records: list[Item], now: float | None,
                     wall: float | None) -> list[Item]:
        """The read's blocks checked (`_checked`) and, with `now`, stamped."""
        if not any(type(item) is Block for item in records):
            return records
        records = self._checked(records)
        for block in records if now is not None else ():
            if type(block) is Block:
                stamp(block, now, wall)  # type: ignore[arg-type]
        return records

    def close(self) -> list[dict]:
        """End of stream: a non-empty unterminated last line counts as malformed."""
        if self._buffer or self._discarding:
            self.malformed += 1
        self._buffer.clear()
        self._discarding = False
        return []

    def _take(self, piece: bytes, records: list[Item], complete: bool) -> None:
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

    def _parse(self, line: bytes, records: list[Item], plain: bool = False) -> None:
        """One line; `plain`: known to hold no run of 19 digits (the search was done on the
        whole read: one pass, not one a line)."""
        try:
            record = orjson.loads(line) if plain else decode_line(line)
        except (ValueError, RecursionError):  # orjson's error is a ValueError
            record = None
        try:
            ok = typed(record)
        except RecursionError:  # nested deeper than the checker goes: not a probe record
            ok = False
        if ok and record["kind"] == BEATS:
            self._unpacked(record, records)
        elif ok:
            if self._now is not None:
                record["t"] = arrived(record, self._now, self._wall)
            records.append(record)
        else:
            self.malformed += 1

    def _unpacked(self, packed: dict, records: list[Item]) -> None:
        """A `beats` line's block, joined to the block before it when nothing came between
        them and they have one shape (a read's lines become one block, checked once by
        `_checked`: the work is then per read, not per line)."""
        last = records[-1] if records else None
        if type(last) is Block and last.takes(packed):  # the common case: one more line
            return
        block = unpack(packed)
        if block is None:
            self.malformed += 1
            return
        records.append(block)

    def _checked(self, items: list[Item]) -> list[Item]:
        """Blocks that fail `checked` are checked again line by line: a bad line is
        malformed, the good ones around it are kept."""
        out: list[Item] = []
        for item in items:
            if type(item) is not Block or checked(item):
                out.append(item)
                continue
            for line in item.lines():
                if checked(line):
                    out.append(line)
                else:
                    self.malformed += 1
        return [item for item in out if type(item) is not Block or len(item)]


class RecordReader(threading.Thread):
    """Reads a pipe fd until EOF; calls `on_records` with the records of each read, in
    order (arrival time in 't')."""

    def __init__(self, fd: int, on_records: Callable[[list[Item]], None],
                 idle_pause_s: float = 0.0) -> None:
        super().__init__(name="mlxprobe-records", daemon=True)
        self._fd = fd
        self._on_records = on_records
        self._idle_pause_s = idle_pause_s  # after a small read too (`watch`: 5 s deadlines)
        self.parser = LineParser()
        self.callback_errors = 0
        self.parser_errors = 0
        self._hurry = threading.Event()  # set: no more pauses (the writers are gone)
        self._wake = threading.Event()  # set: end the pause under way (a deadline looks)
        self._open = True

    def run(self) -> None:
        try:
            self._read_all(enlarge(self._fd))
        except OSError:
            pass
        finally:
            self.parser.close()
            self._open = False
            os.close(self._fd)

    def _read_all(self, enlarged: bool) -> None:
        """Read, hand on and (where the pipe was enlarged: else a pause could fill it and
        block the child) pause, until EOF."""
        last = time.monotonic()
        while chunk := os.read(self._fd, READ_CHUNK):
            records = self._parsed(chunk)
            if records:
                self._deliver(records)
            now = time.monotonic()
            if enlarged and not self._hurry.is_set():
                self._wake.wait(pause(len(chunk), now - last, self._idle_pause_s))
                self._wake.clear()
            last = now

    def hurry(self) -> None:
        """Read what is left without pausing (the run is ending: nobody waits for a pause)."""
        self._hurry.set()
        self._wake.set()

    def wake(self) -> None:
        """End the pause under way: read what the writers have put in the pipe now."""
        self._wake.set()

    def unread(self) -> int:
        """Bytes in the pipe that this reader has not read yet (FIONREAD; 0 once closed or
        where it cannot be had). A deadline judged while heartbeats wait here would judge
        this reader's pause, not the child (soak: a false hang, no heartbeat seen for 1.5 s
        at a 1.0 s deadline, from a child sending tens of thousands of them)."""
        if not self._open:
            return 0
        try:
            return struct.unpack("i", fcntl.ioctl(self._fd, termios.FIONREAD, b"\0" * 4))[0]
        except OSError:
            return 0

    def _parsed(self, chunk: bytes) -> list[Item]:
        """The chunk's records; a parser bug loses the chunk (counted), never the reader (a
        reader that stopped would leave the child blocked on a full pipe: a false hang)."""
        try:
            return self.parser.feed(chunk, time.monotonic(), time.time())
        except Exception:  # noqa: BLE001 - counted, never raised into the reader
            self.parser_errors += 1
            return []

    def _deliver(self, records: list[Item]) -> None:
        """Hand on one read's records; a failing callback must not stop the draining (a
        child whose record pipe fills up would block and look hung)."""
        try:
            self._on_records(records)
        except Exception:  # noqa: BLE001 - counted, never raised into the reader
            self.callback_errors += 1


def pause(size: int, since_s: float, idle_s: float) -> float:
    """How long to wait before the next read, after reading `size` bytes written over
    `since_s`: PAUSE_S after a large read, less when the child writes so fast that the pipe
    would be more than half full by then (it must never block on it); `idle_s` after a
    small one."""
    if size < BUSY_BYTES:
        return idle_s
    rate = size / max(since_s, 1e-3)  # bytes a second
    return min(PAUSE_S, PIPE_BYTES / 2 / rate)


def enlarge(fd: int) -> bool:
    """Give the pipe a PIPE_BYTES buffer (Linux): a child beating 20,000 times a second
    then writes ~100 KB in a PAUSE_S without ever blocking. False where it cannot be done
    (macOS: reads then follow the writes, one wake-up a write)."""
    try:
        return fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES) >= PIPE_BYTES
    except (AttributeError, OSError):
        return False
