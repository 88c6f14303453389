"""The corpus scorer (benchmarks/accuracy.py) on a small subset of the development corpus, run for
real: `mlxprobe watch` and `mlxprobe lint` on user-style scripts mlxprobe was never tuned on.

Each case's ok twin or correct loop must get `pass` and each broken twin one of its expected
classes (cases.toml). The subset is three cases whose scripts take 1-7 s each: a NaN from sqrt at
0 (diverged), an optimizer that is never stepped (no_update / not_learning) and a correct loop
trained by hand-written SGD. Cost: about 30 s on 2 cores (five `watch` runs and five `lint`
runs); the whole corpus runs in the benchmark, not here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBSET = ("rbf_centre_sqrt_nan", "missing_optimizer_update", "correct_manual_sgd")


def _scorer():
    spec = importlib.util.spec_from_file_location("corpus_accuracy",
                                                  ROOT / "benchmarks" / "accuracy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


SCORER = _scorer()
CASES = {c["name"]: c for c in SCORER.load(SCORER.CORPUS, "dev")}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", SUBSET)
def test_subset_case_scores_as_expected(name: str):
    score = SCORER.score_case(SCORER.CORPUS, "dev", CASES[name])
    got = {run.role: run.verdict for run in score.runs}
    assert not score.false_alarms, got
    if score.kind == "failure":
        assert score.class_hit, f"broken got {got['broken']}, expected one of {score.expect}"


def test_hint_words_need_one_word_of_every_group():
    groups = [["sqrt"], ["maximum", "clamp"]]
    assert SCORER.hint_hit("Clamp the input of SQRT", groups)
    assert not SCORER.hint_hit("the input of sqrt is 0", groups)


def test_every_dev_case_names_files_that_exist():
    folder = SCORER.CORPUS / "dev"
    for case in CASES.values():
        files = [case["broken"], case["ok"]] if case["kind"] == "failure" else [case["script"]]
        assert all((folder / f).is_file() for f in files), case["name"]
        assert case.get("expect"), case["name"]


def test_kept_runs_are_judged_again_without_running_and_a_changed_script_runs(tmp_path):
    half = tmp_path / "corpus" / "toy"
    half.mkdir(parents=True)
    (half / "loop.py").write_text("for i in range(1, 31):\n    print(f'step {i} loss "
                                  "{1.0 / i:.4f}', flush=True)\n")
    case = {"name": "toy_loop", "kind": "correct", "script": "loop.py", "expect": ["pass"]}
    keep = SCORER.Keep(tmp_path / "raw")
    first = SCORER.score_case(tmp_path / "corpus", "toy", case, keep)
    raw, linted = keep.paths(half, "loop.py")
    assert raw.is_file() and linted.is_file()
    again = SCORER.score_case(tmp_path / "corpus", "toy", case,
                              SCORER.Keep(tmp_path / "raw", rejudge=True))
    assert [(r.verdict, r.hint, r.reason) for r in again.runs] == \
        [(r.verdict, r.hint, r.reason) for r in first.runs] == [("pass", "", first.runs[0].reason)]
    (half / "loop.py").write_text("print('step 1 loss 1.0')\n")
    assert keep.paths(half, "loop.py")[0] != raw  # a changed text is a new key: it runs again


def test_a_kept_run_that_left_no_facts_keeps_its_label_and_is_not_run_again(tmp_path):
    half = tmp_path / "corpus" / "toy"
    half.mkdir(parents=True)
    (half / "stuck.py").write_text("raise SystemExit('must not run')\n")
    keep = SCORER.Keep(tmp_path / "raw", rejudge=True)
    raw, linted = keep.paths(half, "stuck.py")
    linted.parent.mkdir(parents=True)
    linted.write_text('{"lint": [], "wall_s": 600.0, "unjudged": "scorer_timeout"}')
    case = {"name": "stuck", "kind": "correct", "script": "stuck.py", "expect": ["pass"]}
    score = SCORER.score_case(tmp_path / "corpus", "toy", case, keep)
    assert [(r.verdict, r.wall_s) for r in score.runs] == [("scorer_timeout", 600.0)]
    assert not raw.exists()  # nothing was run
