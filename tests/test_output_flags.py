"""The same output flags on every command that prints a report (issue 25): `--no-color` and
`--json` where a report is printed, `--markdown`/`--html` where they make sense; and what
`compare --json` writes, skipped variants included. Cost: ~1 s (in-process CLI, no run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlxprobe import cli
from mlxprobe.results import report

FLAGS = {  # command and its required arguments -> flags it must accept
    ("run", "--all"): ("--no-color", "--json", "--markdown", "--html"),
    ("watch", "--", "python", "x.py"): ("--no-color", "--json", "--markdown", "--html"),
    ("compare", "a.json", "b.json"): ("--no-color", "--json", "--markdown", "--html"),
    ("gate", "--candidate", "mlx", "--baseline", "mlx"): ("--no-color", "--json",
                                                          "--markdown", "--html"),
    ("report", "r.json"): ("--no-color", "--markdown", "--html"),  # its input is the JSON
    ("lint", "x.py"): ("--no-color", "--json"),  # --format picks what stdout gets
}


@pytest.mark.parametrize("command", list(FLAGS), ids=lambda c: c[0])
def test_every_reporting_command_takes_the_output_flags(command):
    parser = cli.build_parser()
    for flag in FLAGS[command]:
        value = [] if flag == "--no-color" else ["out.x"]
        before, after = (command[:-3], command[-3:]) if command[0] == "watch" else (command, ())
        args = parser.parse_args([*before, flag, *value, *after])
        assert getattr(args, flag[2:].replace("-", "_")) not in (None, False)


def _report(path: Path, skipped: str = "") -> Path:
    entry = {"scenario": "rank-exits-early", "variant": "fixed", "repeat": 0,
             "expected": "pass", "verdict": "skipped" if skipped else "pass", "detail": "",
             "matched": not skipped, "reason": skipped or "fine", "metrics": {},
             "environment": {"mlx_version": "0.32.4", "device": "Device(gpu, 0)"}}
    other = {**entry, "scenario": "s", "verdict": "pass", "matched": True, "reason": "fine"}
    runs = [({**entry, "skipped": skipped} if skipped else entry), other]
    path.write_text(json.dumps(report.build(runs)))
    return path


def test_compare_no_color_and_json_name_the_skipped_variant(tmp_path, capsys):
    base = _report(tmp_path / "base.json")
    head = _report(tmp_path / "head.json", skipped="NCCL needs one CUDA GPU per rank")
    out = tmp_path / "cmp.json"
    code = cli.main(["compare", str(base), str(head), "--no-color", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "\x1b[" not in printed
    assert "1 skipped, NOT checked (HEAD: NCCL needs one CUDA GPU per rank)" in printed
    data = json.loads(out.read_text())
    assert data["kind"] == "comparison" and data["failed"] is False
    skipped = [c for c in data["changes"] if c["status"] == "skipped"]
    assert [c["scenario"] for c in skipped] == ["rank-exits-early"]


def test_two_outputs_on_stdout_are_a_usage_error(tmp_path, capsys):
    base = _report(tmp_path / "base.json")
    code = cli.main(["compare", str(base), str(base), "--json", "-", "--markdown", "-"])
    assert code == 2 and "both want stdout" in capsys.readouterr().err


def test_lint_json_writes_the_findings_beside_the_text(tmp_path, capsys):
    script = tmp_path / "train.py"
    script.write_text("import mlx.core as mx\nx = mx.array(1)\n")
    out = tmp_path / "lint.json"
    code = cli.main(["lint", str(script), "--no-color", "--json", str(out)])
    assert code == 0 and json.loads(out.read_text())["files"] == 1
