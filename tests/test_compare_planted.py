"""Planted regressions: real runs of a plain-Python child that MLXPROBE_PLANT breaks on purpose.

`compare` must fail on each planted regression (a slow-down by a known factor, a pass that
starts leaking, a broken variant that stops leaking) and must not fail on two clean runs of
the same code (no false alarm).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CHILDREN

sys.path.insert(0, str(CHILDREN))
import planted  # noqa: E402 - the child module itself, for its planted factor

REPEAT = "3"


def run_planted(out: Path, plant: str = "", *extra: str) -> Path:
    env = {k: v for k, v in os.environ.items() if k != "MLXPROBE_PLANT"}
    if plant:
        env["MLXPROBE_PLANT"] = plant
    done = subprocess.run([sys.executable, "-m", "mlxprobe.cli", "run", "--scenarios",
                           str(CHILDREN), "--scenario", "planted", "--jobs", "1", "--quiet",
                           "--json", str(out), *extra], capture_output=True, text=True,
                          env=env, timeout=300, cwd=out.parent)
    assert done.returncode in (0, 1), done.stderr
    return out


def compare(base: Path, head: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlxprobe.cli", "compare", str(base),
                           str(head), *extra], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_planted(tmp_path_factory.mktemp("clean") / "base.json", "", "--repeat", REPEAT)


def test_two_clean_runs_do_not_fail(clean: Path, tmp_path: Path) -> None:
    runs = json.loads(clean.read_text())["runs"]
    assert sorted((r["variant"], r["repeat"]) for r in runs) == \
        [(v, r) for v in ("leaky", "steady") for r in range(int(REPEAT))]
    again = run_planted(tmp_path / "again.json", "", "--repeat", REPEAT)
    done = compare(clean, again)
    assert done.returncode == 0, done.stdout
    assert "OK: no regression" in done.stdout


def test_planted_slowdown_fails_with_its_factor(clean: Path, tmp_path: Path) -> None:
    slow = run_planted(tmp_path / "slow.json", "slow", "--repeat", REPEAT, "--variant", "steady")
    summary, junit_xml = tmp_path / "summary.md", tmp_path / "junit.xml"
    done = compare(clean, slow, "--markdown", str(summary), "--junit", str(junit_xml))
    assert done.returncode == 1, done.stdout
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("WORSE"))
    assert "planted" in line and "steady" in line and "step ms" in line
    ratio = float(line.split("(x")[1].split(",")[0])
    assert DEFAULT_STEP_RATIO < ratio < planted.SLOW_FACTOR + 1
    # the exact one-sided p of 3 vs 3 without ties is 0.050; a tie in the rounded step times
    # switches to the normal approximation (measured once: 0.038): either way at most 0.05
    p_value = float(line.split("p=")[1].split(",")[0])
    assert p_value <= 0.05 and "3 vs 3 runs" in line
    assert "**worse**" in summary.read_text() and "<failure" in junit_xml.read_text()


DEFAULT_STEP_RATIO = 1.25


def test_planted_leak_and_lost_eyes_are_hard_failures(clean: Path, tmp_path: Path) -> None:
    head = run_planted(tmp_path / "head.json", "leak,blind")
    verdicts = {r["variant"]: r["verdict"] for r in json.loads(head.read_text())["runs"]}
    assert verdicts == {"steady": "leak", "leaky": "pass"}
    done = compare(clean, head)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    failing = next(ln for ln in lines if ln.startswith("NEWLY FAILING"))
    blind = next(ln for ln in lines if ln.startswith("LOST ITS EYES"))
    assert "steady" in failing and "was pass, now leak:rss" in failing
    assert "leaky" in blind and "stopped reproducing" in blind
    assert "FAIL: 1 newly failing, 1 lost its eyes" in done.stdout
