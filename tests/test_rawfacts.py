"""A run's raw facts saved by `watch --save-raw` and judged again without running it
(`results/rawfacts`, `commands.watch.judged`, the corpus scorer's `--rejudge`)."""

from __future__ import annotations

import pickle

import pytest
from watching import python, watch

from mlxprobe.commands.watch import judged
from mlxprobe.errors import UsageError
from mlxprobe.results import rawfacts
from mlxprobe.watching.facts import RawResult


@pytest.mark.parametrize("args, label", [(("--steps", "30"), "pass"),
                                          (("--raise", "shapes do not match"),
                                           "crash:ValueError")])
def test_a_saved_run_judged_again_gets_the_verdict_and_fix_it_got(tmp_path, args, label):
    saved = tmp_path / "run.raw"
    done, entry = watch(tmp_path, *python("printer.py", *args),
                        options=("--save-raw", str(saved)))
    argv, raw = rawfacts.load(saved)
    verdict, again = judged(argv, raw)
    assert verdict.label == label == f"{entry['verdict']}:{entry['detail']}".rstrip(":")
    assert (again["reason"], again["hint"]) == (entry["reason"], entry["hint"])
    assert argv == list(python("printer.py", *args))


def test_a_file_that_is_not_a_saved_run_is_refused_in_one_line(tmp_path):
    junk, old = tmp_path / "junk.raw", tmp_path / "old.raw"
    junk.write_bytes(b"not a pickle")
    old.write_bytes(pickle.dumps({"format": -1, "argv": [], "raw": RawResult()}))
    for path in (junk, old, tmp_path / "missing.raw"):
        with pytest.raises(UsageError, match="save it again") as caught:
            rawfacts.load(path)
        assert "\n" not in str(caught.value)


def test_a_saved_run_round_trips_its_facts(tmp_path):
    raw = RawResult(records=[{"kind": "progress", "step": 1, "metrics": {"loss": 1.0}}],
                    exit_code=0, watched=True, stdout_tail="step 1 loss 1.0\n")
    rawfacts.save(tmp_path / "a" / "r.raw", ["python", "t.py"], raw)
    argv, back = rawfacts.load(tmp_path / "a" / "r.raw")
    assert argv == ["python", "t.py"] and back == raw
    assert not list((tmp_path / "a").glob("*.part"))
