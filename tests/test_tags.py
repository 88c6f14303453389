"""Scenario tags: SCENARIO["tags"] checked statically, `run/list --tag`, a pytest marker per tag;
and the upstream guards in this checkout's scenarios/ carry theirs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CHILDREN
from test_cli import assert_one_line_usage_error, cli

from mlxprobe.errors import UsageError
from mlxprobe.launching import catalog
from mlxprobe.results import report

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
TAGGED = ('SCENARIO = {"id": "%s", "title": "t", "tags": %s, "variants": {"ok": "pass"}}\n'
          "def ok(probe):\n    for i in range(20):\n        probe.step(loss=10.0 - i)\n")


def tagged_folder(folder: Path) -> Path:
    """a (tags upstream, compile), b (tag other), c (no tags): plain Python, no mlx."""
    (folder / "a.py").write_text(TAGGED % ("a", '["upstream", "compile"]'))
    (folder / "b.py").write_text(TAGGED % ("b", '["other"]'))
    (folder / "c.py").write_text((TAGGED % ("c", "[]")).replace('"tags": [], ', ""))
    return folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "s").mkdir()
    return tagged_folder(tmp_path / "s")


def test_tags_are_read_statically(tmp_path: Path) -> None:
    a, b, c = catalog.discover(tagged_folder(tmp_path))
    assert a.tags == ("upstream", "compile") and b.tags == ("other",) and c.tags == ()
    assert catalog.known_tags([a, b, c]) == ["compile", "other", "upstream"]
    assert [s.id for s in catalog.with_tags([a, b, c], ["upstream"])] == ["a"]
    assert [s.id for s in catalog.with_tags([a, b, c], ["other", "compile"])] == ["a", "b"]


@pytest.mark.parametrize("tags", ['"upstream"', "[1]", '["up stream"]', '["-x"]', '[""]',
                                  '("upstream",)', '["upstream", None]'])
def test_bad_tags_are_a_usage_error_naming_the_file(tmp_path: Path, tags: str) -> None:
    (tmp_path / "bad.py").write_text(TAGGED % ("bad", tags))
    with pytest.raises(UsageError, match=r"bad\.py: SCENARIO\['tags'\] must be a list"):
        catalog.discover(tmp_path)


def test_unknown_tag_names_the_known_ones(tmp_path: Path) -> None:
    scenarios = catalog.discover(tagged_folder(tmp_path))
    with pytest.raises(UsageError, match="unknown tag 'upstrem'.*compile, other, upstream"):
        catalog.with_tags(scenarios, ["upstrem"])


def test_run_tag_runs_only_tagged_scenarios(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    done = cli("run", "--scenarios", str(folder), "--tag", "upstream", "--jobs", "1",
               "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert [r["scenario"] for r in report.load(out)["runs"]] == ["a"]
    done = cli("run", "--scenarios", str(folder), "--all", "--tag", "other", "--tag",
               "upstream", "--jobs", "1", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(r["scenario"] for r in report.load(out)["runs"]) == ["a", "b"]


def test_run_unknown_tag_is_one_line_naming_known_tags(folder: Path) -> None:
    done = cli("run", "--scenarios", str(folder), "--tag", "upstrem")
    assert_one_line_usage_error(done, "upstrem", "compile, other, upstream")


def test_run_needs_a_selection_and_refuses_tag_with_scenario(folder: Path) -> None:
    assert_one_line_usage_error(cli("run", "--scenarios", str(folder)), "--tag")
    done = cli("run", "--scenarios", str(folder), "--scenario", "a", "--tag", "upstream")
    assert_one_line_usage_error(done, "--tag", "--scenario")


def test_list_shows_and_filters_tags(folder: Path) -> None:
    done = cli("list", "--scenarios", str(folder))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("a ") and lines[0].endswith("[upstream, compile]")
    assert lines[2].startswith("c ") and not lines[2].endswith("]")
    done = cli("list", "--scenarios", str(folder), "--tag", "other")
    assert [line.split()[0] for line in done.stdout.splitlines()] == ["b"]
    assert_one_line_usage_error(cli("list", "--scenarios", str(folder), "--tag", "x"), "x")


def test_pytest_marker_per_tag_with_strict_markers(folder: Path) -> None:
    def collect(*args: str) -> list[str]:
        done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                               str(folder), "--collect-only", "-q", "--strict-markers", *args],
                              capture_output=True, text=True, timeout=120, cwd=folder)
        assert done.returncode == 0, done.stdout + done.stderr
        return sorted(line.split("::")[0].rsplit("/", 1)[-1] for line in
                      done.stdout.splitlines() if "::" in line)

    assert collect("-m", "upstream") == ["a.py"]
    assert collect("-m", "compile or other") == ["a.py", "b.py"]
    assert collect("-m", "not upstream") == ["b.py", "c.py"]
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "--markers"], capture_output=True, text=True, timeout=120,
                          cwd=folder)
    assert "@pytest.mark.upstream:" in done.stdout  # registered even with no tagged file


def upstream_files() -> list[Path]:
    return sorted(SCENARIOS.glob("upstream_*.py"))


def test_upstream_guards_are_tagged_and_selected_by_the_tag() -> None:
    files = upstream_files()
    assert len(files) == 9
    tagged = catalog.with_tags(catalog.discover(SCENARIOS), ["upstream"])
    assert sorted(s.path.name for s in tagged) == [f.name for f in files]
    for s in tagged:
        assert s.id.startswith("upstream-") and list(s.meta["variants"]) == ["guard"]
        assert s.meta["variants"]["guard"] == "pass"  # on today's mlx (0.32.4)
        assert all(src.startswith("https://github.com/ml-explore/mlx/issues/")
                   for src in s.meta["source"])


@pytest.mark.parametrize("path", upstream_files(), ids=lambda p: p.stem)
def test_upstream_docstring_says_where_it_was_seen_failing(path: Path) -> None:
    """Each guard names its issue and either the releases it failed on (with an
    expected_before_mlx) or that it was never seen failing."""
    tree = ast.parse(path.read_text())
    doc = " ".join((ast.get_docstring(tree) or "").split())
    meta = catalog.read_metadata(path)
    assert "https://github.com/ml-explore/mlx/issues/" in doc and "Measured here" in doc
    if meta.get("expected_before_mlx"):
        assert "never seen failing" not in doc
    else:
        assert "this guard was never seen failing" in doc


def test_children_folder_has_no_tags() -> None:
    assert all(s.tags == () for s in catalog.discover(CHILDREN))


def test_gate_passes_tags_to_each_round(folder: Path, tmp_path: Path) -> None:
    from test_gate import gate_args, this_interpreter

    from mlxprobe.commands import gate

    args = gate_args(tmp_path, scenario=None, tag=["upstream"], scenarios=folder,
                     mlxprobe=None)
    command = gate.run_command(args, this_interpreter(), tmp_path / "x.json")
    assert command[command.index("--tag") + 1] == "upstream" and "--all" not in command
    assert gate._tagged(args) == ["a"]
    kept = {"runs": [{"scenario": "a", "variant": "ok"}, {"scenario": "b", "variant": "ok"}]}
    assert gate._with_ids(kept, ["a"])["runs"] == [{"scenario": "a", "variant": "ok"}]
    assert gate._with_ids(kept, None) is kept


def test_gate_checks_tags_before_any_slow_work(folder: Path) -> None:
    base = ("gate", "--candidate", "mlx[cpu]==0.0.0", "--baseline", "mlx[cpu]==0.0.1",
            "--scenarios", str(folder))
    assert_one_line_usage_error(cli(*base, "--tag", "upstrem"), "upstrem", "upstream")
    assert_one_line_usage_error(cli(*base, "--tag", "upstream", "--scenario", "a"), "--tag")


def test_gate_reads_tags_from_the_checkout_it_installs() -> None:
    """Without --scenarios the environments run this checkout's scenarios (its wheel)."""
    import argparse

    from mlxprobe.commands import gate
    from mlxprobe.gating import environments

    assert environments.checkout_root() == SCENARIOS.parent
    args = argparse.Namespace(scenarios=None, mlxprobe=None)
    assert gate._catalogue(args) == SCENARIOS
    assert gate._catalogue(argparse.Namespace(scenarios=None, mlxprobe="mlxprobe==1")) is None


def test_gate_lists_a_verdict_that_changed_as_each_release_expects() -> None:
    """An upstream guard between a release with the bug and one without: both sides match
    their expectation (expected_before_mlx), the verdicts differ: listed, not failed."""
    from test_compare import rep, run

    from mlxprobe.gating.comparison import EXPECTED, compare
    from mlxprobe.reporters import changes, markdown

    guard = {"scenario": "upstream-x", "variant": "guard"}
    base = rep(run(**guard), mlx="0.32.4")
    head = rep(run(**guard, expected="crash", verdict="crash", detail="SIGSEGV"), mlx="0.30.0")
    result = compare(base, head)
    [change] = result.changes
    assert change.kind == EXPECTED == "changed as expected" and not result.failed
    assert f"1 {EXPECTED}" in changes.headline(result)
    assert "upstream-x" in markdown.render(result, "mlxprobe gate")
    # the release expected to crash but passing is still a hard change (the guard went blind)
    blind = compare(base, rep(run(**guard, expected="crash"), mlx="0.30.0"))
    assert [c.kind for c in blind.changes] == ["lost its eyes"] and blind.failed
