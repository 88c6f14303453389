"""Packed heartbeats: the step records of a fast loop in one compact `beats` line, and back.

Job: a process whose steps come faster than its probe writes (`writer.COALESCE_S`) sends
them in one line: the field names once (`keys`, and the names inside `metrics` and
`memory`), how many steps (`n`), the columns whose value is the same in every step once
(`same_at`: their places among the names, `same`: their values; a source, a learning rate,
a memory counter in a steady state), then the other values of each step, row after row, in
one flat list (`values`). Measured on the parent's side: a list a step, or a value a step
for a constant, costs its reader more (objects made and freed, about 0.03 us each here)
than parsing the numbers. `Pack` builds such a line on the child side within `LINE_LIMIT`
bytes: at most PIPE_BUF, the size a write to a pipe or FIFO is atomic up to, so the lines
of processes sharing one FIFO (a distributed job's ranks) never interleave. `unpack` turns
a decoded line into a `Block`, whose records are each exactly what a line of its own would
have decoded to, made only when asked for.

Written by hand: the format is a header and rows of JSON values; a general serialiser
(msgpack, Arrow) would add a dependency on the child side and still need the expansion.

Both sides import it. Standard library only. Must not import: mlx, any other part of
mlxprobe but `protocol`.
"""

from __future__ import annotations

import json
import math
import select

from .protocol import BEATS, STEP

LINE_LIMIT = min(getattr(select, "PIPE_BUF", 512), 4096)  # 4096 on Linux, 512 on macOS
NESTED = ("metrics", "memory")  # dict fields of a step record, packed by their names
Shape = tuple[tuple[str, ...], tuple[str, ...] | None, tuple[str, ...] | None]


def shape_of(record: dict) -> Shape | None:
    """The field names of a step record (top level, then inside each NESTED dict), or None
    when it cannot be packed (a NESTED field that is not a dict)."""
    nested = []
    for name in NESTED:
        if name in record and not isinstance(record[name], dict):
            return None
        nested.append(tuple(record[name]) if name in record else None)
    keys = tuple(k for k in record if k != "kind" and k not in NESTED)
    return keys, nested[0], nested[1]


def row_of(record: dict, shape: Shape) -> list:
    """The record's values in the order of its shape."""
    keys, metrics, memory = shape
    row = [record[k] for k in keys]
    for name, names in zip(NESTED, (metrics, memory)):
        if names is not None:
            row += record[name].values()
    return row


class Pack:
    """Step records of one shape, held as rows of values, that fit in one line."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        keys, metrics, memory = shape
        self._names = {"keys": list(keys), "metrics": _names(metrics), "memory": _names(memory)}
        width = len(keys) + len(metrics or ()) + len(memory or ())
        # the header, with room for "n", "same_at" (an index a column) and "same" (less
        # than one row: the one value of each constant column)
        self._size = len(json.dumps({"kind": BEATS, **self._names})) + 60 + 5 * width
        self._widest = 0
        self.rows: list[list] = []

    def fits(self, size: int) -> bool:
        """Would a row of `size` bytes (its values as JSON, without brackets) keep the pack
        within its budget? (Twice the line limit: the constant columns are written once,
        and a pack whose line is still too long is written as two, `lines`.)"""
        return not self.rows or \
            self._size + size + 2 + max(self._widest, size) <= 2 * LINE_LIMIT

    def add(self, row: list, size: int) -> None:
        self.rows.append(row)
        self._size += size + 2
        self._widest = max(self._widest, size)

    def lines(self) -> list[str]:
        """The held rows as lines of at most LINE_LIMIT bytes (one unless that is too long:
        then the rows are halved; a single row too long for a line is one line anyway)."""
        return self._lines(self.rows)

    def _lines(self, rows: list[list]) -> list[str]:
        line = self._line(rows)
        if len(line) <= LINE_LIMIT or len(rows) == 1:
            return [line]
        half = len(rows) // 2
        return [*self._lines(rows[:half]), *self._lines(rows[half:])]

    def _line(self, rows: list[list]) -> str:
        columns = list(zip(*rows))
        same_at = [j for j, column in enumerate(columns) if _constant(column)] \
            if len(rows) > 1 else []
        kept = set(same_at)
        varying = [j for j in range(len(columns)) if j not in kept]
        values = [row[j] for row in rows for j in varying]
        return json.dumps({"kind": BEATS, **self._names, "n": len(rows),
                           "same_at": same_at, "same": [columns[j][0] for j in same_at],
                           "values": values}, allow_nan=False) + "\n"


def _constant(column: tuple) -> bool:
    """Every value the same, of the same type (and zeros of the same sign)."""
    first = column[0]
    if column.count(first) != len(column) or len(set(map(type, column))) != 1:
        return False
    if type(first) is float and first == 0.0:
        return len({math.copysign(1.0, v) for v in column}) == 1
    return True


def _names(names: tuple[str, ...] | None) -> list[str] | None:
    return None if names is None else list(names)


def unpack(packed: dict) -> Block | None:
    """The step records of a decoded `beats` line as a `Block`; None when its header does
    not hold together or its values are not whole rows (the caller counts it malformed)."""
    header = [packed.get(k) for k in HEADER]
    if not _valid(*header):
        return None
    block = Block(*header[:-1], 0, [])
    return block if block.takes(packed) else None


HEADER = ("keys", "metrics", "memory", "same_at", "same", "n")


def _valid(keys: object, metrics: object, memory: object, same_at: object, same: object,
           n: object) -> bool:
    if not (_strings(keys) and _strings(metrics, True) and _strings(memory, True)):
        return False
    total = len(keys) + len(metrics or ()) + len(memory or ())  # type: ignore[arg-type]
    return ("kind" not in keys and not set(keys) & set(NESTED)  # type: ignore[operator]
            and type(n) is int and n >= 0 and type(same) is list
            and type(same_at) is list and len(same) == len(same_at)
            and all(type(j) is int for j in same_at)
            and same_at == sorted(set(same_at)) and all(0 <= j < total for j in same_at))


def _strings(value: object, nullable: bool = False) -> bool:
    if value is None:
        return nullable
    return type(value) is list and all(type(v) is str for v in value)


class Block:
    """Step records of one shape: the constant columns once, the others as flat rows of
    values; each record is made only when asked for (a long run's parent keeps a few of
    them: making every one would cost more than reading the line). `t`: each record's
    arrival time, set by the reader."""

    __slots__ = ("_at", "cuts", "header", "layout", "n", "same_types", "t", "values", "width")

    def __init__(self, keys: list[str], metrics: list[str] | None, memory: list[str] | None,
                 same_at: list[int], same: list, n: int, values: list) -> None:
        self.header = [keys, metrics, memory, same_at, same]  # what a line must repeat to join
        self.same_types = list(map(type, same))  # and its constants' types (1 == 1.0 == True)
        self.layout = Layout(keys, metrics, memory, dict(zip(same_at, same)))
        self.width, self._at = self.layout.width, self.layout.at  # read on every column
        self.n, self.values = n, values
        self.t: list[float] = []
        self.cuts = [n] if n else []  # how many rows each joined line had, summed

    def __len__(self) -> int:
        return self.n

    def takes(self, packed: dict) -> bool:
        """Add a decoded `beats` line's rows after these when it has this shape, the same
        constants and whole rows (a line joining the block before it; `unpack`, to an
        empty block of the line's own header); False when not."""
        values, n = packed.get("values"), packed.get("n")
        header = [packed.get(k) for k in HEADER[:-1]]
        if type(values) is not list or type(n) is not int or n < 0 or \
                len(values) != n * self.width or header != self.header or \
                list(map(type, header[-1])) != self.same_types:
            return False
        self.values += values
        self.n += n
        self.cuts.append(self.n)
        return True

    def lines(self) -> list[Block]:
        """The lines that were joined into this block, each a block again."""
        starts = [0, *self.cuts[:-1]]
        return [Block(*self.header, b - a, self.values[a * self.width:b * self.width])
                for a, b in zip(starts, self.cuts)]

    def record(self, i: int) -> dict:
        """Row i as the step record a line of its own would have given (with "t")."""
        return self.layout.make(self.row(i))

    def held(self, i: int) -> tuple:
        """Record i as (maker, its row): made later, holding none of the block's other rows."""
        return self.layout.make, self.row(i)

    def row(self, i: int) -> tuple[list, float | None]:
        """Row i's own values and arrival time: with `layout.make`, all a record needs
        (holding it does not hold the block's other rows)."""
        return self.values[i * self.width:(i + 1) * self.width], self.t[i] if self.t else None

    def records(self) -> list[dict]:
        return [self.record(i) for i in range(self.n)]

    def column(self, name: str) -> list | None:
        """A top-level field's values, row by row (None: no record has it)."""
        return self._column("keys", name)

    def metric(self, name: str) -> list | None:
        """A field of `metrics`, row by row (None: no record has it)."""
        return self._column("metrics", name)

    def constant(self, group: str, name: str) -> tuple[bool, object]:
        """(True, the value) when a field ("keys" or "metrics") has one value in every
        record of the block (sent once), else (False, None)."""
        place = self._at.get(group, {}).get(name)
        return place if place is not None and place[0] else (False, None)

    def last(self, name: str) -> object:
        """A top-level field of the last record (None: no record has it)."""
        place = self._at["keys"].get(name)
        if place is None or not self.n:
            return None
        return _value(place, self.values[len(self.values) - self.width:])

    def _column(self, group: str, name: str) -> list | None:
        place = self._at.get(group, {}).get(name)
        if place is None:
            return None
        constant, where = place
        return [where] * self.n if constant else self.values[where::self.width]


class Layout:
    """Where each field of a block's records is: a constant, or a place in a row."""

    __slots__ = ("at", "width")

    def __init__(self, keys: list[str], metrics: list[str] | None, memory: list[str] | None,
                 constant: dict[int, object]) -> None:
        total = len(keys) + len(metrics or ()) + len(memory or ())
        varying = [j for j in range(total) if j not in constant]
        self.width = len(varying)
        position = {j: p for p, j in enumerate(varying)}
        # group -> name -> (True, its one value) or (False, its place in a row)
        self.at = {group: {name: (True, constant[j]) if j in constant else (False, position[j])
                           for j, name in enumerate(names, start)}
                   for group, names, start in _groups(keys, metrics, memory)}

    def make(self, row: tuple[list, float | None]) -> dict:
        """The record of a row (its values, its arrival time or None)."""
        values, t = row
        record = {name: _value(place, values) for name, place in self.at["keys"].items()}
        record["kind"] = STEP
        for group in NESTED:
            if group in self.at:
                record[group] = {name: _value(place, values)
                                 for name, place in self.at[group].items()}
        if t is not None:
            record["t"] = t
        return record


def _groups(keys: list[str], metrics: list[str] | None,
            memory: list[str] | None) -> list[tuple[str, list[str], int]]:
    """(group, its names, the place of its first name among all names), present ones."""
    groups, start = [], 0
    for group, names in (("keys", keys), ("metrics", metrics), ("memory", memory)):
        if names is not None:
            groups.append((group, names, start))
            start += len(names)
    return groups


def _value(place: tuple[bool, object], row: list) -> object:
    constant, where = place
    return where if constant else row[where]  # type: ignore[index]
