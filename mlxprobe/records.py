"""The record reader: bytes from the child's record pipe -> parsed records, robust to anything.

Job: split a byte stream into JSON-line records. A line that is not a JSON object, not UTF-8,
or longer than MAX_LINE_BYTES is counted as malformed and skipped; the reader never raises
and never holds more than MAX_LINE_BYTES of a partial line. `RecordReader` runs the parser
on a pipe in a thread and stamps each record with the parent's monotonic arrival time.

Must not import: mlx, the child side.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable

MAX_LINE_BYTES = 1 << 20  # a heartbeat is ~300 bytes; 1 MiB leaves room for big notes
READ_CHUNK = 1 << 16


class LineParser:
    """Incremental parser: feed bytes, get complete records; counts malformed lines."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._discarding = False  # inside an over-long line, dropping until its newline
        self.malformed = 0

    def feed(self, data: bytes) -> list[dict]:
        records: list[dict] = []
        *lines, rest = data.split(b"\n")
        for line in lines:
            self._take(line, records, complete=True)
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
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            record = None
        if isinstance(record, dict) and isinstance(record.get("kind"), str):
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

    def run(self) -> None:
        try:
            while chunk := os.read(self._fd, READ_CHUNK):
                now = time.monotonic()
                for record in self.parser.feed(chunk):
                    record["t"] = now
                    self._on_record(record)
        except OSError:
            pass
        finally:
            self.parser.close()
            os.close(self._fd)
