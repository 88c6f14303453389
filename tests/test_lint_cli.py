"""`mlxprobe lint` end to end: output formats, exit codes, stdin, selection, --fix, no mlx."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlxprobe.lint.engine import MANY_FILES_GEN0, many_files

ROOT = Path(__file__).resolve().parent.parent
HANG = """\
import mlx.core as mx
from mlx.utils import tree_flatten


def train(model, optimizer, loss_and_grad, data):
    for batch in data:
        loss, grads = loss_and_grad(model, batch)
        optimizer.update(model, grads)  # the bug
    n = sum(p.size for p in tree_flatten(model.parameters()))
    return loss, n
"""
CLEAN = "import mlx.core as mx\n\nx = mx.array(1)\n"


def lint(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlxprobe.cli", "lint", *args], input=stdin,
                          capture_output=True, text=True, timeout=60, cwd=cwd,
                          env={"PYTHONPATH": str(ROOT), "PATH": ""})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "train.py").write_text(HANG)
    (tmp_path / "pkg" / "clean.py").write_text(CLEAN)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "ignored.py").write_text(HANG)
    return tmp_path


def test_text_output_names_place_rule_fix_and_scenario(project: Path) -> None:
    done = lint("pkg", cwd=project)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("pkg/train.py:8:9: MLX001 optimizer.update")
    assert lines[1].strip().startswith("fix: mx.eval(model.parameters(), optimizer.state)")
    assert lines[2].strip() == "see: mlxprobe run --scenario step2-hang"
    assert lines[3].startswith("pkg/train.py:9:24: MLX004 ")
    assert "ignored.py" not in done.stdout
    assert "2 findings in 2 files" in done.stderr


def test_clean_file_exits_zero(project: Path) -> None:
    done = lint("pkg/clean.py", cwd=project)
    assert (done.returncode, done.stdout) == (0, "")


def test_a_file_that_does_not_parse_is_named_and_the_others_still_checked(project: Path) -> None:
    # a file that can hold a finding (MLX, a loop, an update); one that cannot is not parsed
    (project / "pkg" / "broken.py").write_text(
        "import mlx.core as mx\nfor b in data:\n    def f(:\n        opt.update(m, g)\n")
    done = lint("pkg", "missing.py", "--format", "json", cwd=project)
    assert done.returncode == 2
    errors = done.stderr.strip().splitlines()
    assert errors == ["mlxprobe: error: pkg/broken.py:3: cannot parse: invalid syntax",
                      "mlxprobe: error: missing.py: cannot read: No such file or directory"]
    report = json.loads(done.stdout)
    assert report["files"] == 2 and len(report["findings"]) == 2


def test_stdin_and_json(project: Path) -> None:
    done = lint("-", "--format", "json", stdin=HANG, cwd=project)
    assert done.returncode == 1
    first = json.loads(done.stdout)["findings"][0]
    assert first == {**first, "rule": "MLX001", "path": "-", "line": 8, "column": 9,
                     "scenario": "step2-hang", "fixable": True}


def test_select_and_ignore(project: Path) -> None:
    selected = lint("pkg", "--select", "MLX004", "--format", "json", cwd=project)
    assert [f["rule"] for f in json.loads(selected.stdout)["findings"]] == ["MLX004"]
    ignored = lint("pkg", "--ignore", "MLX001,MLX004", cwd=project)
    assert ignored.returncode == 0
    unknown = lint("pkg", "--select", "E501", cwd=project)
    assert unknown.returncode == 2 and "no rule matches 'E501'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1


def test_sarif_is_what_github_code_scanning_reads(project: Path) -> None:
    done = lint("pkg", "--format", "sarif", cwd=project)
    sarif = json.loads(done.stdout)
    assert sarif["version"] == "2.1.0" and "sarif-2.1.0" in sarif["$schema"]
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted(r["id"] for r in rules)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == "pkg/train.py"
        assert location["region"]["startLine"] >= 1 and result["message"]["text"]


def test_fix_rewrites_the_safe_rules_and_the_result_is_clean(project: Path) -> None:
    path = project / "pkg" / "train.py"
    done = lint("pkg/train.py", "--fix", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    fixed = path.read_text()
    assert "        mx.eval(model, optimizer.state)\n" not in fixed
    assert "        optimizer.update(model, grads)  # the bug\n" \
           "        mx.eval(model.parameters(), optimizer.state)\n" in fixed
    assert "sum(p.size for _, p in tree_flatten(model.parameters()))" in fixed
    compile(fixed, str(path), "exec")
    assert lint("pkg/train.py", cwd=project).returncode == 0


def test_fix_refuses_stdin() -> None:
    done = lint("-", "--fix", stdin=HANG)
    assert done.returncode == 2 and "cannot take stdin" in done.stderr


def test_ignore_comment_end_to_end(project: Path) -> None:
    path = project / "pkg" / "train.py"
    path.write_text(HANG.replace("# the bug", "# mlxprobe: ignore[MLX001]"))
    done = lint("pkg/train.py", "--format", "json", cwd=project)
    assert [f["rule"] for f in json.loads(done.stdout)["findings"]] == ["MLX004"]


def test_lint_never_imports_mlx(project: Path) -> None:
    code = ("import sys; from mlxprobe.cli import main; "
            f"rc = main(['lint', {str(project / 'pkg')!r}]); "
            "assert 'mlx' not in sys.modules and 'mlx.core' not in sys.modules; sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=60)
    assert done.returncode == 1, done.stderr


def test_notebook_cells_are_checked_and_reported_by_cell(project: Path) -> None:
    cells = [{"cell_type": "markdown", "source": ["# training"]},
             {"cell_type": "code", "source": ["%pip install mlx\n", "import mlx.core as mx"]},
             {"cell_type": "code", "source": HANG.replace("import mlx.core as mx\n", "")}]
    (project / "nb.ipynb").write_text(json.dumps({"cells": cells, "nbformat": 4}))
    (project / "bad.ipynb").write_text("[]")
    done = lint(".", "--format", "json", cwd=project)
    found = [(f["path"], f["line"], f["rule"]) for f in json.loads(done.stdout)["findings"]]
    assert ("nb.ipynb:cell 2", 7, "MLX001") in found
    assert "bad.ipynb: cannot check: not a Jupyter notebook" in done.stderr


def test_fix_needs_mlx_core_imported_at_module_level(project: Path) -> None:
    path = project / "pkg" / "train.py"
    text = HANG.replace("import mlx.core as mx\n", "").replace(
        "    for batch in data:", "    import mlx.core as mx\n    for batch in data:")
    path.write_text(text)
    done = lint("pkg/train.py", "--fix", "--select", "MLX001", cwd=project)
    assert done.returncode == 1 and path.read_text() == text


def test_explain_prints_why_fix_and_source() -> None:
    done = lint("--explain", "mlx020")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].startswith("MLX020 clamp-after-singular: ")
    assert lines[1].startswith("why:    ") and "nan" in lines[1].lower()
    assert lines[2] == "fix:    mx.sqrt(mx.maximum(d2, eps))  # clamp the input, not the output"
    assert lines[3] == "source: https://github.com/ml-explore/mlx/issues/3668"


def test_explain_an_unknown_rule_and_no_path_are_usage_errors() -> None:
    assert lint("--explain", "MLX999").returncode == 2
    done = lint()
    assert done.returncode == 2 and "no PATH to lint" in done.stderr


def test_many_files_raises_the_collector_threshold_and_puts_it_back() -> None:
    saved = gc.get_threshold()
    with many_files():
        assert gc.get_threshold() == (MANY_FILES_GEN0, *saved[1:])
    assert gc.get_threshold() == saved
