"""Bad input at the CLI and in the pytest plugin: one line naming the culprit, exit 2.

Choices (see also catalog.py): a scenario file that cannot be read statically (syntax error,
not a literal SCENARIO, a variant the module does not define, an unknown expected verdict)
is a usage error for `list` and `run --all`; `run --scenario ID` still runs ID when it lives
in another, good file, and warns about the broken one. A module that raises on import is
only imported in its child: each of its variants is a `crash` naming the exception, and the
other scenarios run as usual. The existing cases of test_cli.py (unknown scenario, unknown
variant, --step-floor=-1, --budget=0, --max-memory=abc, a bad flag, a missing folder, a
syntax error under `list`) are not repeated here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlxprobe import cli
from mlxprobe.results import report

GOOD = '''SCENARIO = {"id": "good", "title": "learns", "variants": {"main": "pass"}}


def main(probe):
    for i in range(20):
        probe.step(loss=10.0 - 0.3 * i)
'''
RAISES_ON_IMPORT = '''SCENARIO = {"id": "boom", "title": "raises on import",
            "variants": {"main": "pass"}}

raise RuntimeError("the module itself is broken")


def main(probe):
    pass
'''


def usage_error(capsys: pytest.CaptureFixture, *args: str) -> str:
    """Run the CLI in-process; it must exit 2 with one line on stderr; that line."""
    code = cli.main(list(args))
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlxprobe: error:"), err
    return lines[0]


def folder_with(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.py").write_text(text)
    return folder


@pytest.mark.parametrize("flag", ["--startup-timeout=-5", "--step-factor=0", "--budget=nan",
                                  "--step-floor=inf", "--max-memory=-1", "--jobs=0",
                                  "--jobs=-2", "--jobs=1.5", "--repeat=0", "--budget="])
def test_bad_numbers_name_the_flag(flag: str, capsys: pytest.CaptureFixture) -> None:
    line = usage_error(capsys, "run", "--all", flag)
    assert flag.split("=")[0] in line


def test_unknown_variant_across_all(capsys: pytest.CaptureFixture) -> None:
    line = usage_error(capsys, "run", "--all", "--variant", "brokn")
    assert "brokn" in line


def test_scenarios_path_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "file.py"
    path.write_text(GOOD)
    assert str(path) in usage_error(capsys, "run", "--all", "--scenarios", str(path))


@pytest.mark.parametrize("broken", [
    ("syntax", "SCENARIO = {\n", "syntax error"),
    ("not_literal", "SCENARIO = dict(id='x')\n", "literal dict"),
    ("unhashable", "SCENARIO = {[1]: 2}\n", "literal dict"),
    ("lacks_def", 'SCENARIO = {"id": "x", "title": "t", "variants": {"gone": "pass"}}\n',
     "gone"),
    ("bad_kind", GOOD.replace('"main": "pass"', '"main": "hnag"').replace("good", "x"),
     "hnag"),
    ("bad_budget", GOOD.replace('"title"', '"budget_s": -3, "title"').replace("good", "x"),
     "budget_s"),
    ("nul_byte", "SCENARIO = {}\n\0\n", "syntax error"),
], ids=lambda b: b[0])
def test_broken_scenario_file_is_named(broken: tuple[str, str, str], tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    name, text, words = broken
    folder = folder_with(tmp_path, good=GOOD, **{name: text})
    for args in (["list"], ["run", "--all"]):
        line = usage_error(capsys, *args, "--scenarios", str(folder))
        assert f"{name}.py" in line and words in line


def test_dangling_symlink_in_the_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = folder_with(tmp_path, good=GOOD)
    (folder / "gone.py").symlink_to(tmp_path / "nowhere.py")
    line = usage_error(capsys, "run", "--all", "--scenarios", str(folder))
    assert "gone.py" in line and "cannot read" in line


def test_one_good_scenario_runs_next_to_a_broken_file(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    folder = folder_with(tmp_path, good=GOOD, syntax="SCENARIO = {\n")
    code = cli.main(["run", "--quiet", "--scenarios", str(folder), "--scenario", "good"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "warning: skipped" in captured.err and "syntax.py" in captured.err
    assert "good" in captured.out


def test_unknown_scenario_mentions_the_file_that_could_not_be_read(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = folder_with(tmp_path, good=GOOD, syntax="SCENARIO = {\n")
    line = usage_error(capsys, "run", "--scenarios", str(folder), "--scenario", "mine")
    assert "'mine'" in line and "syntax.py" in line


def test_module_raising_on_import_is_a_crash_and_the_others_run(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = folder_with(tmp_path, good=GOOD, boom=RAISES_ON_IMPORT)
    out = tmp_path / "r.json"
    code = cli.main(["run", "--quiet", "--all", "--scenarios", str(folder), "--json", str(out)])
    capsys.readouterr()
    assert code == 1  # boom expected pass
    runs = {r["scenario"]: r for r in report.load(out)["runs"]}
    assert runs["good"]["verdict"] == "pass"
    assert (runs["boom"]["verdict"], runs["boom"]["detail"]) == ("crash", "RuntimeError")
    assert "the module itself is broken" in runs["boom"]["reason"]


def test_unwritable_report_path_fails_before_any_run(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    folder = folder_with(tmp_path, good=GOOD)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    for flag in ("--json", "--markdown"):
        target = str(blocker / "sub" / "r.out")
        line = usage_error(capsys, "run", "--all", "--scenarios", str(folder), flag, target)
        assert target in line and "not a folder" in line


# --- the pytest plugin -----------------------------------------------------------------------

def pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", str(folder), "-q",
                           "-p", "no:cacheprovider", *args], capture_output=True, text=True,
                          timeout=120, cwd=folder)


@pytest.mark.parametrize("option", ["--mlxprobe-max-memory=-1", "--mlxprobe-step-floor=nan"])
def test_plugin_refuses_bad_numbers(option: str, tmp_path: Path) -> None:
    done = pytest_in(folder_with(tmp_path, good=GOOD), option)
    assert done.returncode == 4, done.stdout + done.stderr  # pytest's usage error
    assert option.split("=")[0] in done.stderr and "Traceback" not in done.stderr


def test_plugin_names_a_broken_scenario_file(tmp_path: Path) -> None:
    done = pytest_in(folder_with(tmp_path, good=GOOD, syntax="SCENARIO = {\n"))
    assert done.returncode == 2, done.stdout  # pytest stops on a collection error
    assert "syntax.py:1: syntax error in scenario module" in done.stdout
    assert "Traceback" not in done.stdout


def test_plugin_reports_an_import_crash_and_runs_the_rest(tmp_path: Path) -> None:
    done = pytest_in(folder_with(tmp_path, good=GOOD, boom=RAISES_ON_IMPORT))
    assert done.returncode == 1, done.stdout
    assert "1 failed, 1 passed" in done.stdout
    assert "expected pass, got crash:RuntimeError" in done.stdout
