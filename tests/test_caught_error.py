"""`judging.caught`: one of MLX's own error messages printed while training ran, in a run that
went on and exited 0 (fresh247 `wickerwork_denoise_resume`: a resume whose `model.update`
raised, printed, and trained again from fresh weights), against a message printed before the
first report (a start-up probe) or never."""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

ERROR = 'Failed to load checkpoint: Module does not have parameter named "2".'


def run(lines: list[str]) -> RawResult:
    records = [{"kind": "step", "source": "update", "step": n, "t": n * 0.01}
               for n in range(1, 301)]
    reports = [line for line in lines if line.startswith("epoch")]
    records += [{"kind": "progress", "source": "output", "step": 30 * i, "t": 0.3 * i,
                 "loss": 1.0 / i} for i in range(1, len(reports) + 1)]
    records.sort(key=lambda r: r["t"])
    return RawResult(records=records, exit_code=0, watched=True,
                     stdout_tail="\n".join(lines) + "\n")


def epochs(first: int, last: int) -> list[str]:
    return [f"epoch {e} step {30 * e} loss {1.0 / e:.4f}" for e in range(first, last + 1)]


def test_an_mlx_error_printed_between_reports_is_wrong_result_caught_error() -> None:
    v = classify(run([*epochs(1, 4), ERROR, *epochs(1, 4)]))
    assert v.label == "wrong_result:caught_error"
    # a digit named where the model keeps a list: a dict keyed '0', '1', '2' built by hand
    # (MLX raises 'List index 2 is out of bounds' for a list too long, measured)
    assert (v.evidence["line"], v.evidence["error"]) == (ERROR, "digit_keys_for_a_list")
    assert "let it raise" in v.hint and "tree_unflatten" in v.hint


def test_a_message_before_the_first_report_or_none_at_all_is_not_judged() -> None:
    assert classify(run([ERROR, *epochs(1, 8)])).label != "wrong_result:caught_error"
    assert classify(run([*epochs(1, 4), "Failed to load checkpoint: none yet", *epochs(5, 8)])
                    ).label != "wrong_result:caught_error"
