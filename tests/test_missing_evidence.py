"""Issue 12: the gate never goes green on missing evidence.

One test (or more) per row of the issue's table, then the further paths found where mlxprobe
could have said "OK" without having checked what it claims:

1. `run --all` on a folder holding no scenario module: exit 2, one line.
2. `compare` where HEAD lacks variants of BASE: exit 1 naming them, unless narrowed on purpose
   (`--allow-missing`, or `--scenario`/`--variant` given to compare); the same in `gate`.
3. A partial report on either side: exit 1, naming the missing runs and why.
4. `run --json /proc/x/y.json`: refused before any run (a parent that can be created is).
5. A verdict that changed while both sides matched (an `expected_before_mlx` override):
   exit 0, but its own group "changed as expected" in the terminal, Markdown, JUnit, HTML.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from html import unescape
from pathlib import Path

import pytest
from conftest import CHILDREN
from test_cli import assert_one_line_usage_error, cli

from mlxprobe import cli as mlxprobe_cli
from mlxprobe.commands import compare as compare_command
from mlxprobe.commands import gate
from mlxprobe.errors import UsageError
from mlxprobe.gating import comparison, environments
from mlxprobe.gating.environments import Environment
from mlxprobe.launching import catalog, expectations
from mlxprobe.launching.spec import spec_for
from mlxprobe.reporters import changes, summary_md
from mlxprobe.results import report

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def entry(variant: str = "fixed", expected: str = "pass", verdict: str = "pass",
          scenario: str = "s", bound: str | None = None, repeat: int = 0,
          reason: str = "fine") -> dict:
    return {"scenario": scenario, "variant": variant, "repeat": repeat, "expected": expected,
            "expected_before_mlx": bound, "verdict": verdict, "detail": "",
            "matched": verdict == expected.partition(":")[0], "reason": reason,
            "metrics": {"step_ms_median": 10.0, "peak_rss_mb": 100.0},
            "environment": {"mlx_version": "0.32.4", "device": "Device(cpu, 0)"}}


def save(path: Path, *entries: dict, **top: object) -> Path:
    path.write_text(json.dumps({**report.build(list(entries)), **top}))
    return path


def variants(*names: str) -> list[dict]:
    return [entry(variant=n) for n in names]


# --- row 1 -----------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["run", "--all"], ["list"], ["run", "--scenario", "x"]])
def test_a_folder_without_scenario_modules_is_one_line(command: list[str],
                                                       tmp_path: Path) -> None:
    (tmp_path / "util.py").write_text("X = 1\n")  # a Python file, not a scenario
    done = cli(*command, "--scenarios", str(tmp_path))
    assert_one_line_usage_error(done, "no scenario modules found in", str(tmp_path))


# --- row 2 -----------------------------------------------------------------------------------

def test_compare_fails_on_variants_missing_from_head(tmp_path: Path) -> None:
    base = save(tmp_path / "base.json", *variants("a", "b", "c"))
    head = save(tmp_path / "head.json", *variants("a"))
    done = cli("compare", str(base), str(head))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL: 2 missing" in done.stdout
    assert "s [b]: in BASE, not in HEAD" in done.stdout and "s [c]: in BASE" in done.stdout


def test_compare_passes_missing_variants_only_when_narrowed_on_purpose(tmp_path: Path) -> None:
    base = save(tmp_path / "base.json", *variants("a", "b"),
                entry(scenario="t", variant="a"))
    head = save(tmp_path / "head.json", *variants("a"))
    allowed = cli("compare", str(base), str(head), "--allow-missing")
    assert allowed.returncode == 0, allowed.stdout
    assert "2 left out" in allowed.stdout and "allowed: --allow-missing" in allowed.stdout
    narrowed = cli("compare", str(base), str(head), "--scenario", "s", "--variant", "a")
    assert narrowed.returncode == 0 and "OK: no regression; 1 same" in narrowed.stdout
    still = cli("compare", str(base), str(head), "--scenario", "s")
    assert still.returncode == 1 and "1 missing" in still.stdout  # s [b] is in the selection
    head_lacks = cli("compare", str(base), str(head), "--scenario", "s", "--variant", "b")
    assert head_lacks.returncode == 2 and "HEAD report holds no runs" in head_lacks.stderr


@pytest.mark.parametrize("selection, words", [
    (["--variant", "nope"], ["--variant 'nope'", "BASE"]),
    (["--scenario", "nope"], ["--scenario 'nope'", "BASE"]),
    (["--scenario", "t"], ["HEAD report holds no runs"]),  # HEAD lacks all of t
])
def test_a_compare_selection_that_matches_nothing_is_a_usage_error(
        selection: list[str], words: list[str], tmp_path: Path) -> None:
    base = save(tmp_path / "base.json", *variants("a"), entry(scenario="t"))
    head = save(tmp_path / "head.json", *variants("a"))
    assert_one_line_usage_error(cli("compare", str(base), str(head), *selection), *words)


def gate_namespace(tmp_path: Path, *flags: str) -> object:
    return mlxprobe_cli.build_parser().parse_args(
        ["gate", "--candidate", "mlx", "--baseline", "mlx", "--out", str(tmp_path / "gate"),
         *flags])


def test_gate_output_fails_on_missing_variants_unless_allowed(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base, head = report.build(variants("a", "b")), report.build(variants("a"))
    md = tmp_path / "summary.md"
    result = compare_command.judge(gate_namespace(tmp_path, "--markdown", str(md)), base, head,
                                   "mlxprobe gate")
    assert result.failed and "s [b]: in BASE, not in HEAD" in capsys.readouterr().out
    assert md.read_text().startswith("## mlxprobe gate: FAIL: 1 missing")
    allowed = compare_command.judge(gate_namespace(tmp_path, "--allow-missing"), base, head)
    narrowed = compare_command.judge(gate_namespace(tmp_path, "--variant", "a"), base, head)
    assert not allowed.failed and not narrowed.failed


def test_gate_refuses_a_kept_baseline_without_the_selection_before_building(
        tmp_path: Path) -> None:
    kept = save(tmp_path / "kept.json", *variants("a"))
    cache = tmp_path / "cache"
    done = cli("gate", "--candidate", "mlx==1", "--baseline-report", str(kept), "--variant",
               "b", "--cache-dir", str(cache), "--out", str(tmp_path / "out"))
    assert_one_line_usage_error(done, "--variant 'b'", "BASE")
    assert not cache.exists()


# --- row 3 -----------------------------------------------------------------------------------

def test_a_partial_head_fails_naming_the_missing_runs_and_why(tmp_path: Path) -> None:
    base = save(tmp_path / "base.json", *variants("a", "b"))
    partial = report.build(variants("a"), complete=False, stopped="interrupted by SIGTERM",
                           missing=[{"scenario": "s", "variant": "b", "repeat": 0}])
    head = tmp_path / "head.json"
    head.write_text(json.dumps(partial))
    done = cli("compare", str(base), str(head), "--allow-missing")  # partial still fails
    assert done.returncode == 1, done.stdout
    assert ("error: HEAD report is partial (interrupted by SIGTERM): 1 run(s) missing: "
            "s [b] #1") in done.stdout
    assert "1 problem(s) with the reports" in done.stdout.splitlines()[-1]


def test_a_partial_base_fails_too_and_old_partial_reports_name_what_they_lack(
        tmp_path: Path) -> None:
    base = save(tmp_path / "base.json", *variants("a"), complete=False)  # no missing list
    head = save(tmp_path / "head.json", *variants("a", "b"))
    done = cli("compare", str(base), str(head))
    assert done.returncode == 1, done.stdout
    assert ("BASE report is partial (its run was interrupted): the runs it lacks are not "
            "recorded; variants only the other side has: s [b]") in done.stdout


def test_a_partial_report_narrowed_to_what_it_holds_is_compared() -> None:
    partial = report.build(variants("a"), complete=False, stopped="interrupted by SIGINT",
                           missing=[{"scenario": "s", "variant": "b", "repeat": 0}])
    base = report.build(variants("a", "b"))
    narrowed = [comparison.narrow(r, side, None, "a") for r, side in
                ((base, "BASE"), (partial, "HEAD"))]
    result = comparison.compare(*narrowed)
    assert not result.failed and "holds every run of the selection" in result.warnings[0]


def test_gate_rounds_keep_the_missing_runs() -> None:
    from mlxprobe.gating import schedule

    whole = report.build(variants("a", "b"))
    cut = report.build(variants("a"), complete=False, stopped="interrupted by SIGINT",
                       missing=[{"scenario": "s", "variant": "b", "repeat": 0}])
    merged = schedule.combine([whole, cut])
    assert merged["complete"] is False and merged["stopped"] == "interrupted by SIGINT"
    assert merged["missing"] == [{"scenario": "s", "variant": "b", "repeat": 1}]


# --- row 4 -----------------------------------------------------------------------------------

def test_an_uncreatable_report_folder_is_refused_before_any_run(tmp_path: Path) -> None:
    started = time.monotonic()
    done = cli("run", "--scenarios", str(CHILDREN), "--scenario", "plain", "--variant", "sleep",
               "--json", "/proc/x/y.json")
    assert_one_line_usage_error(done, "cannot write /proc/x/y.json")
    assert done.stdout == "" and time.monotonic() - started < 30  # the hang never ran


def test_a_report_folder_that_can_be_created_is(tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "r.json"
    done = cli("run", "--scenarios", str(CHILDREN), "--scenario", "plain", "--variant", "ok",
               "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert report.load(out)["complete"] is True
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]  # no probe file left


def test_plugin_refuses_an_unwritable_report_before_any_run(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text((CHILDREN / "plain.py").read_text())
    done = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "plain.py"), "-q",
                           "-p", "no:cacheprovider", "--mlxprobe-json", "/proc/x/y.json"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "cannot write /proc/x/y.json" in done.stderr and "passed" not in done.stdout


# --- row 5 -----------------------------------------------------------------------------------

NO_UPDATE = "no step changed the parameters"


def expected_change_reports(tmp_path: Path) -> tuple[Path, Path]:
    """swallowed-grad-error's broken variant: pass on 0.31.2 (expected there: the override
    applies before 0.32.1), no_update on 0.32.4; fixed passes on both."""
    base = save(tmp_path / "base.json",
                entry("broken", "pass", "pass", "swallowed-grad-error", bound="0.32.1"),
                entry("fixed", "pass", "pass", "swallowed-grad-error"))
    head = save(tmp_path / "head.json",
                entry("broken", "no_update", "no_update", "swallowed-grad-error",
                      reason=NO_UPDATE),
                entry("fixed", "pass", "pass", "swallowed-grad-error"))
    return base, head


def test_a_change_both_sides_expected_is_its_own_group_not_a_failure(tmp_path: Path) -> None:
    base, head = expected_change_reports(tmp_path)
    md, xml, page = tmp_path / "s.md", tmp_path / "j.xml", tmp_path / "p.html"
    done = cli("compare", str(base), str(head), "--markdown", str(md), "--junit", str(xml),
               "--html", str(page))
    assert done.returncode == 0, done.stdout + done.stderr
    line = f"pass -> no_update (expected from mlx 0.32.1): {NO_UPDATE}"
    assert "changed as expected (not a failure: the verdict moved" in done.stdout
    assert f"swallowed-grad-error [broken]: {line}" in done.stdout
    assert "OK: no regression; 1 changed as expected, 1 same" in done.stdout
    text = md.read_text()
    assert "### ℹ️ Changed as expected" in text and f"`swallowed-grad-error` broken: {line}" \
        in text
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    assert suite.find("testcase/system-out").text == f"changed as expected: {line}"
    header = unescape(page.read_text().split("</header>")[0])
    assert f"changed as expected: swallowed-grad-error [broken] {line}" in header
    assert "OK: no regression; 1 changed as expected" in header


def test_reports_without_the_bound_still_say_how_the_expectation_moved() -> None:
    base = report.build([entry("broken", "pass", "pass")])
    head = report.build([entry("broken", "no_update", "no_update")])
    for side in (base, head):
        del side["runs"][0]["expected_before_mlx"]  # a report from before the key
    [change] = comparison.compare(base, head).changes
    assert change.kind == "changed as expected"
    assert change.why_expected == "expectation pass -> no_update"
    hang = [report.build([{**entry("x", "hang", "hang"), "detail": d}]) for d in ("cpu_busy",
                                                                              "cpu_idle")]
    [moved] = comparison.compare(*hang).changes
    assert changes.expected_text(moved).startswith(
        "hang:cpu_busy -> hang:cpu_idle (both match the expectation hang)")


def test_the_bound_that_set_an_expectation_is_in_the_spec() -> None:
    scenario = catalog.load_file(SCENARIOS / "swallowed_grad_error.py")
    assert scenario is not None
    meta = scenario.meta
    assert expectations.applied_bound(meta, "broken", (0, 31, 2)) == "0.32.1"
    assert expectations.applied_bound(meta, "broken", (0, 32, 4)) is None
    assert expectations.applied_bound(meta, "fixed", (0, 31, 2)) is None
    spec = spec_for(scenario, "broken")
    installed = expectations.installed_mlx()
    assert spec.expected_before_mlx == expectations.applied_bound(meta, "broken", installed)


# --- further paths that said OK without checking ---------------------------------------------

def test_reports_from_different_hosts_compare_verdicts_but_not_metrics() -> None:
    base = report.build([entry()])
    head = report.build([{**entry(), "metrics": {"step_ms_median": 99.0,
                                                 "peak_rss_mb": 900.0}}])
    head["fingerprint"] = {**head["fingerprint"], "machine": "arm64"}
    result = comparison.compare(base, head)
    assert not result.metrics_compared and all(not c.metrics for c in result.changes)
    assert changes.headline(result).endswith("metrics NOT compared (different hosts)")


def test_nothing_matched_on_either_side_is_a_failure_not_still_failing() -> None:
    crashed = [entry(v, "pass", "crash") for v in ("a", "b")]
    result = comparison.compare(report.build(crashed), report.build(crashed))
    assert {c.kind for c in result.changes} == {"still failing"}
    assert result.failed and "nothing was checked" in result.problems[0]
    one_ok = report.build([entry("a"), entry("b", "pass", "crash")])
    assert not comparison.compare(one_ok, one_ok).failed  # a known failure stays known


def test_a_report_compared_with_itself_says_so(tmp_path: Path) -> None:
    same = save(tmp_path / "r.json", *variants("a"))
    done = cli("compare", str(same), str(same))
    assert done.returncode == 0 and "warning: BASE and HEAD are the same report" in done.stdout


def test_reports_of_different_mlxprobe_versions_are_warned() -> None:
    base, head = report.build([entry()]), report.build([entry()])
    base["mlxprobe_version"] = "0.0.9"
    warnings = " ".join(comparison.compare(base, head).warnings)
    assert "different mlxprobe versions (0.0.9 -> " in warnings


def test_a_gate_whose_sides_run_the_same_mlx_says_so() -> None:
    env = Environment("mlx", Path("/nowhere"), "uv", 0.0)
    assert "compares an mlx with itself" in gate._same_mlx({"base": env, "head": env})
    assert gate._same_mlx({"head": env}) == ""


def test_pytest_on_a_folder_without_scenarios_is_not_green_nor_a_stale_report(
        tmp_path: Path) -> None:
    (tmp_path / "util.py").write_text("X = 1\n")
    stale = save(tmp_path / "old.json", *variants("a"))
    done = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path), "-q",
                           "-p", "no:cacheprovider", "--mlxprobe-json", str(stale)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 5, done.stdout  # pytest's "no tests collected"
    assert report.load(stale)["runs"] == []  # the old report does not pass for this session
    assert_one_line_usage_error(cli("compare", str(stale), str(stale)), "holds no runs")


def test_a_partial_report_is_never_shown_as_all_good(tmp_path: Path) -> None:
    partial = report.build(variants("a"), complete=False, stopped="interrupted by SIGINT",
                           missing=[{"scenario": "s", "variant": "b", "repeat": 0}])
    text = summary_md.render(partial)
    assert text.startswith("### ❌ mlxprobe: 1/1 verdicts matched their expectation (partial")
    assert "Partial report (interrupted by SIGINT): 1 run(s) missing, not judged." in text
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(partial))
    shown = cli("report", str(path))
    assert shown.returncode == 0 and "1 run(s) missing, not judged" in shown.stdout


def test_a_gate_environment_without_mlx_is_refused(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "env")],
                   check=True, timeout=120)
    with pytest.raises(UsageError, match="has no mlx installed"):
        environments.installed_mlx(tmp_path / "env")


STOPS = '''SCENARIO = {"id": "stops", "title": "a failure, then more", "variants":
            {"a_fails": "leak", "b_later": "pass"}}


def _learn(probe):
    for i in range(20):
        probe.step(loss=10.0 - 0.3 * i)


a_fails = b_later = _learn
'''


def test_plugin_report_of_a_session_stopped_early_is_partial(tmp_path: Path) -> None:
    (tmp_path / "stops.py").write_text(STOPS)
    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path), "-q", "-x",
                           "-p", "no:cacheprovider", "--mlxprobe-json", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    data = report.load(out)
    assert data["complete"] is False and data["stopped"].startswith("pytest stopped early")
    assert data["missing"] == [{"scenario": "stops", "variant": "b_later", "repeat": 0}]
