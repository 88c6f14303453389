"""Static evidence joined to a dynamic verdict (`pipeline.lint_evidence`): the program's own
files are linted (main script and stack frames, never installed packages); a finding whose
rule produces the verdict's class goes first in the hint at its exact line, the others are
listed apart; a pass keeps its findings apart and its hint empty. Plain files and dicts, no
MLX run (the watched run is in test_watch_catalogue.py). Cost: < 1 s.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from mlxprobe.pipeline import lint_evidence

TRAIN = textwrap.dedent("""\
    import mlx.core as mx
    import mlx.nn as nn

    def loss_fn(model, x, y):
        losses = nn.losses.mse_loss(model(x), y, reduction="none")
        return losses

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    for step in range(1000):
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        if step % 500 == 0:
            print(loss.item())
    model = optimizer = x = y = None  # bound for the linter (MLX047): a fragment's names
    """)


def entry(kind: str) -> dict:
    return {"verdict": kind, "hint": "the run's own hint"}


def test_a_hang_is_explained_at_the_update_line(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    got = lint_evidence.attach(entry("hang"), ["python", "train.py"], "", tmp_path)
    assert [(f["rule"], f["path"], f["line"]) for f in got["lint"]["explains"]] == [
        ("MLX001", "train.py", 11)]
    assert got["hint"].startswith("lint MLX001 at train.py:11 (`optimizer.update(model, "
                                  "grads)`): optimizer.update in a loop")
    assert got["hint"].endswith("the run's own hint")
    assert [f["rule"] for f in got["lint"]["other"]] == ["MLX018"]


def test_a_crash_is_explained_by_the_per_example_loss(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    got = lint_evidence.attach(entry("crash"), ["python", "-u", "train.py"], "", tmp_path)
    assert [(f["rule"], f["line"]) for f in got["lint"]["explains"]] == [("MLX018", 6)]
    assert [f["rule"] for f in got["lint"]["other"]] == ["MLX001"]


def test_files_come_from_the_stacks_not_from_installed_packages(tmp_path: Path) -> None:
    (tmp_path / "steps.py").write_text(TRAIN)
    import mlx.core  # noqa: F401  (only to find its installed file)

    installed = Path(mlx.core.__file__).resolve().parent / "__init__.py"
    stacks = (f'Thread 0x1 (most recent call first):\n  File "{installed}", line 3 in f\n'
              f'  File "{tmp_path / "steps.py"}", line 11 in <module>\n')
    files = lint_evidence.program_files(["python", "-c", "pass"], stacks, tmp_path)
    assert files == [(tmp_path / "steps.py").resolve()]


def test_a_pass_lists_its_findings_apart_and_a_clean_program_gets_no_lint(
        tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    passed = {"verdict": "pass", "hint": ""}
    got = lint_evidence.attach(passed, ["python", "train.py"], "", tmp_path)
    assert [(f["rule"], f["line"]) for f in got["lint"]["unshown"]] == [("MLX018", 6),
                                                                        ("MLX001", 11)]
    assert set(got["lint"]) == {"unshown"} and got["hint"] == ""
    (tmp_path / "clean.py").write_text("import mlx.core as mx\nx = mx.ones(3)\n")
    got = lint_evidence.attach(entry("hang"), ["python", "clean.py"], "", tmp_path)
    assert "lint" not in got and got["hint"] == "the run's own hint"


def test_every_rule_explains_some_verdict_class() -> None:
    """A rule missing from EXPLAINS would never raise a hint to its line."""
    from mlxprobe.lint.catalogue import RULES

    mapped = set().union(*lint_evidence.EXPLAINS.values())
    assert set(RULES) - mapped == set()
