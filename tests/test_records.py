"""The record reader survives any bytes: garbage, partial and enormous lines, any chunking."""

from __future__ import annotations

import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from mlxprobe.watching.records import MAX_LINE_BYTES, LineParser, RecordReader


def line(**fields) -> bytes:
    return (json.dumps({"kind": "step", **fields}) + "\n").encode()


def feed_all(chunks: list[bytes]) -> tuple[list[dict], int]:
    parser = LineParser()
    records = [r for c in chunks for r in parser.feed(c)]
    parser.close()
    return records, parser.malformed


def test_split_lines_are_joined() -> None:
    data = line(step=1) + line(step=2)
    records, bad = feed_all([data[:7], data[7:30], data[30:]])
    assert [r["step"] for r in records] == [1, 2] and bad == 0


def test_garbage_is_counted_not_raised() -> None:
    records, bad = feed_all([b"not json\n", b"[1,2]\n", b'{"no_kind": 1}\n', b"\xff\xfe\n",
                             line(step=3)])
    assert [r["step"] for r in records] == [3] and bad == 4


def test_enormous_line_is_dropped_and_the_next_one_kept() -> None:
    huge = b"x" * (MAX_LINE_BYTES + 10)
    records, bad = feed_all([huge[: MAX_LINE_BYTES // 2], huge[MAX_LINE_BYTES // 2:],
                             b"\n" + line(step=4)])
    assert [r["step"] for r in records] == [4] and bad == 1


def test_unterminated_last_line_is_malformed() -> None:
    records, bad = feed_all([line(step=1), b'{"kind": "step"'])
    assert len(records) == 1 and bad == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=20))
def test_arbitrary_bytes_never_raise(chunks: list[bytes]) -> None:
    records, bad = feed_all(chunks)
    assert all(isinstance(r, dict) and isinstance(r["kind"], str) for r in records)
    assert bad >= 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=30), st.data())
def test_valid_records_survive_any_chunking(steps: list[int], data: st.DataObject) -> None:
    stream = b"".join(line(step=s) for s in steps)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    records, bad = feed_all(chunks)
    assert [r["step"] for r in records] == steps and bad == 0


def test_reader_thread_stamps_arrival_time() -> None:
    read_fd, write_fd = os.pipe()
    got: list[dict] = []
    reader = RecordReader(read_fd, got.extend)
    reader.start()
    os.write(write_fd, line(step=1) + b"junk\n")
    os.close(write_fd)
    reader.join(timeout=5)
    assert not reader.is_alive() and len(got) == 1 and "t" in got[0]
    assert reader.parser.malformed == 1


def test_unread_counts_what_the_writers_put_in_the_pipe_and_not_read_yet() -> None:
    """A missed deadline is judged only once this is 0 (watching/runner): heartbeats that
    wait in the pipe during the reader's pause are not a stalled child."""
    read_fd, write_fd = os.pipe()
    reader = RecordReader(read_fd, lambda records: None)
    os.write(write_fd, b'{"kind": "step", "step": 1}\n' * 3)
    assert reader.unread() == 3 * len(b'{"kind": "step", "step": 1}\n')
    reader.start()
    os.close(write_fd)
    reader.join(5)
    assert not reader.is_alive() and reader.unread() == 0  # read to EOF, then closed
