"""Report files under faults: writes are atomic, and any bad file gives one line and exit 2.

`report.load` is the one reader every command uses (compare, gate, report); it must turn any
bytes at all into either a report or a UsageError, never another exception. test_cli.py
covers a truncated, a foreign, a newer and a missing file; here: arbitrary bytes,
every truncation of a real report, non-UTF-8, deep nesting, runs of the wrong shape, a
write that fails half-way, and the same files given to `mlxprobe compare` and `report`.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlxprobe import cli
from mlxprobe.errors import UsageError
from mlxprobe.results import report

RUN = {"scenario": "s", "variant": "broken", "expected": "pass", "verdict": "pass",
       "detail": "", "matched": True, "reason": "finished cleanly", "hint": "",
       "evidence": {"steps": 3}, "metrics": {"steps": 3, "wall_s": 1.0},
       "series": {"step": [1, 2, 3], "loss": [3.0, 2.0, 1.0]}, "stacks": {},
       "environment": {"mlx_version": "0.32.4", "device": "cpu", "python": "3.11.7"}}
VALID = json.dumps(report.build([RUN]), indent=1).encode()
BAD_FILES = {
    "binary": b"\x89PNG\r\n\x1a\n\x00\xff",
    "latin1": '{"schema": 1, "runs": [], "x": "caf\xe9"}'.encode("latin-1"),
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "runs_not_dicts": b'{"schema": 1, "runs": [1, 2]}',
    "run_lacks_keys": b'{"schema": 1, "runs": [{"scenario": "s"}]}',
    "schema_text": b'{"schema": "1", "runs": []}',
    "schema_zero": b'{"schema": 0, "runs": []}',
    "empty": b"",
    "huge_number": b'{"schema": 1e999999, "runs": []}',
    "list": b"[]",
}
SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def load_bytes(tmp_path: Path, data: bytes) -> dict:
    path = tmp_path / "r.json"
    path.write_bytes(data)
    return report.load(path)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_one_usage_error(name: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        load_bytes(tmp_path, BAD_FILES[name])
    assert "\n" not in str(caught.value) and "r.json" in str(caught.value)


@SETTINGS
@given(st.binary(max_size=400))
def test_arbitrary_bytes_load_or_refuse(tmp_path: Path, data: bytes) -> None:
    try:
        loaded = load_bytes(tmp_path, data)
    except UsageError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(loaded["runs"], list)


@SETTINGS
@given(st.integers(0, len(VALID) - 1))
def test_every_truncation_of_a_report_is_refused(tmp_path: Path, cut: int) -> None:
    with pytest.raises(UsageError):
        load_bytes(tmp_path, VALID[:cut])


def test_valid_report_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    report.write(path, report.build([RUN]))
    assert report.load(path)["runs"] == [RUN]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # not mkstemp's private 0600


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    report.write(path, report.build([RUN]))
    before = path.read_bytes()
    broken = report.build([{**RUN, "evidence": {"oops": object()}}])  # not serialisable
    with pytest.raises(TypeError):
        report.write(path, broken)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_non_finite_number_is_refused_before_the_file_is_touched(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    with pytest.raises(ValueError):
        report.write(path, report.build([{**RUN, "metrics": {"wall_s": float("nan")}}]))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["binary", "deep", "runs_not_dicts", "empty"])
@pytest.mark.parametrize("command", ["report", "compare"])
def test_commands_give_one_line_and_exit_two(command: str, name: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    report.write(good, report.build([RUN]))
    bad.write_bytes(BAD_FILES[name])
    args = [command, str(bad)] if command == "report" else [command, str(good), str(bad)]
    code = cli.main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "bad.json" in err


@pytest.mark.parametrize("command", ["report", "compare"])
def test_commands_on_a_missing_or_folder_path(command: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    for target in (tmp_path / "missing.json", tmp_path):
        args = [command, str(target)] if command == "report" else [command, str(target)] * 2
        assert cli.main(args) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
