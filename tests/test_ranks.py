"""A distributed job's pieces without launching anything: the culprit found by counting
collectives per step, the slowest live rank setting the pace, what a stalled rank's facts say,
the launcher's command (127.0.0.1 only, free ports), and `ranks` in SCENARIO."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mlxprobe.errors import UsageError
from mlxprobe.judging import ranks
from mlxprobe.judging.verdict import classify
from mlxprobe.launching import catalog
from mlxprobe.launching import ranks as launching
from mlxprobe.protocol import rank_from
from mlxprobe.watching.facts import RawResult
from mlxprobe.watching.heartbeat import Watch


def _job(skip: dict[int, int], steps: int = 5, final: bool = False) -> list[dict]:
    """Records of 2 ranks: one `all_sum` per step; rank r skips it at step skip[r]."""
    out = []
    for rank in (0, 1):
        seq = 0
        for step in range(1, steps + 1):
            if skip.get(rank) != step:
                seq += 1
                out.append({"kind": "collective", "rank": rank, "seq": seq, "op": "all_sum",
                            "step": step, "where": "/home/u/train.py:41"})
            out.append({"kind": "step", "rank": rank, "step": step, "loss": 1.0 / step})
        if final:
            out.append({"kind": "collective", "rank": rank, "seq": seq + 1, "op": "all_sum",
                        "step": steps + 1})
    return out


def test_the_rank_that_skipped_is_named_with_its_step():
    found = ranks.mismatch(RawResult(records=_job({1: 3})))
    assert found is not None
    assert (found["step"], found["culprits"], found["issued"]) == (3, [1], {0: 5, 1: 4})
    assert found["paired"] == {"seq": 3, "steps": {0: 3, 1: 4}}
    assert ranks.mismatch_text(found) == (
        "rank 1 issued 4 collectives in 5 steps, rank 0 issued 5: rank 1 skipped one at step "
        "3 (rank 0 issued it at train.py:41); from then on their collectives paired different "
        "steps")


def test_equal_counts_are_no_mismatch_and_unfinished_steps_are_not_compared():
    assert ranks.mismatch(RawResult(records=_job({}))) is None
    records = [r for r in _job({}) if not (r["rank"] == 1 and r.get("step", 0) >= 4)]
    assert ranks.mismatch(RawResult(records=records)) is None  # rank 1 is behind, not wrong


def test_a_mismatch_without_a_hang_is_a_wrong_result():
    raw = RawResult(records=_job({1: 3}), exit_code=0, watched=True)
    verdict = classify(raw)
    assert (verdict.kind, verdict.detail) == ("wrong_result", "collective_mismatch")
    assert "rank 1 skipped one at step 3" in verdict.reason
    assert set(verdict.evidence["ranks"]) == {0, 1}


def test_an_error_record_names_its_rank_and_who_finished_first():
    records = _job({}, steps=3) + [
        {"kind": "end", "rank": 1},
        {"kind": "error", "rank": 0, "type": "RuntimeError",
         "message": "[ring] connection to a peer was lost"}]
    verdict = classify(RawResult(records=records, exit_code=0))
    assert (verdict.kind, verdict.detail) == ("crash", "RuntimeError")
    assert verdict.reason.startswith("rank 0 raised RuntimeError: [ring] connection")
    assert "finished first: rank 1 after step 3" in verdict.reason
    assert "same number of steps" in verdict.hint


def test_a_rank_the_launcher_reported_failed_is_a_crash_though_it_exited_0():
    stderr = "\x1b[33m[WARN] Node with rank 1 exited with code -11 \x1b[0m\n"
    raw = RawResult(records=_job({}), exit_code=0, watched=True, stderr_tail=stderr)
    verdict = classify(raw)
    assert (verdict.kind, verdict.detail) == ("crash", "rank_1_SIGSEGV")
    assert ranks.failed_nodes("Node with rank 0 exited with code 1") == {0: 1}


def test_a_stalled_rank_waiting_beside_a_polling_thread_is_said_so():
    threads = [{"tid": 12, "name": "python", "main": False, "cores": 0.45},
               {"tid": 10, "name": "python", "main": True, "cores": 0.0}]
    fact = {"rank": 0, "pid": 10, "alive": True, "at": 110.0, "python_stack": "",
            "native_stack": "", "threads": threads}
    records = [{"kind": "step", "rank": 0, "step": 4, "time": 100.0},
               {"kind": "eval_open", "rank": 0, "since": 101.5, "where": "/x/train.py:43"}]
    info = ranks.rank_summary(RawResult(records=records, ranks=[fact]))[0]
    assert info["in_eval"] == {"since_s": 8.5, "where": "/x/train.py:43"}
    line = ranks.rank_line(0, info)
    assert "blocked in an evaluation since 8.5 s at train.py:43" in line
    assert "main thread waits (0.00 cores) beside thread 12 polling at 0.45 cores" in line
    later = [*records, {"kind": "step", "rank": 0, "step": 5, "time": 102.0}]
    assert ranks.open_eval(later, 110.0) is None  # a step after it: the evaluation closed


def test_the_slowest_live_rank_sets_the_pace():
    watch = Watch(0.0)
    for rank, pid in ((0, 100), (1, 101)):
        watch.add({"kind": "start", "rank": rank, "pid": pid, "t": 0.0})
    assert watch.beat_count == 0  # rank 1 has not beaten: still starting up
    for t in (1.0, 2.0, 3.0):
        watch.add({"kind": "step", "rank": 0, "t": t})
    watch.add({"kind": "step", "rank": 1, "t": 1.5})
    assert (watch.last_beat(), watch.beat_count) == (1.5, 1)  # rank 1, the straggler
    watch.rank_ended(1)  # it finished: out of the race
    assert (watch.last_beat(), watch.beat_count) == (3.0, 3)
    assert watch.rank_pids() == {0: 100, 1: 101}


def test_the_rank_comes_from_the_launchers_environment():
    assert rank_from({"MLX_RANK": "1"}) == 1
    assert rank_from({"OMPI_COMM_WORLD_RANK": "3"}) == 3
    assert rank_from({"MLXPROBE_RANK": "0", "MLX_RANK": "2"}) == 0
    assert rank_from({}) is None and rank_from({"MLX_RANK": "x"}) is None


def test_the_launcher_uses_free_ports_on_127_0_0_1_only():
    args = launching.launcher_args(2, "ring")
    assert args[:4] == ["--hosts", "127.0.0.1", "-n", "2"] and args[-2:] == ["--backend", "ring"]
    first = int(args[args.index("--starting-port") + 1])
    for port in (first, first + 1, int(args[args.index("--nccl-port") + 1])):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free right now
    argv = launching.launch_argv(2, ["python", "train.py"])
    assert argv[-3:] == ["--", "python", "train.py"] and "--backend" not in argv
    with pytest.raises(ValueError):
        launching.launcher_args(2, "tcp")


@pytest.mark.parametrize("value", ["0", "True", "2.0", "'2'", "99"])
def test_ranks_in_scenario_is_checked_statically(tmp_path: Path, value: str):
    meta = '{"id": "d", "title": "t", "variants": {"broken": "hang"}, "ranks": ' + value + "}"
    (tmp_path / "dist.py").write_text(f"SCENARIO = {meta}\ndef broken(probe): ...\n")
    with pytest.raises(UsageError, match="ranks"):
        catalog.discover(tmp_path)


def test_a_two_rank_scenario_launches_through_mlx_launch(tmp_path: Path):
    from mlxprobe.launching.spec import spec_for

    (tmp_path / "dist.py").write_text(
        'SCENARIO = {"id": "d", "title": "t", "variants": {"broken": "hang"}, "ranks": 2}\n'
        "def broken(probe): ...\n")
    scenario = catalog.discover(tmp_path)[0]
    launch = spec_for(scenario, "broken").launch
    assert scenario.ranks == 2 and launch.ranks == 2
    assert not launch.records_fd and not launch.watched  # a FIFO: ranks inherit no fds
    assert launch.argv[1:3] == ("-m", "mlxprobe.inside.launcher")
    assert launch.argv[launch.argv.index("--") + 2:][:2] == ("-m", "mlxprobe.inside.child")


def _uneven(steps: int = 3) -> list[dict]:
    """Rank 1 finishes its loop after `steps`; rank 0 issues one more collective."""
    return _job({}, steps=steps) + [
        {"kind": "end", "rank": 1},
        {"kind": "collective", "rank": 0, "seq": steps + 1, "op": "all_sum",
         "step": steps + 1, "where": "/home/u/train.py:41"},
        {"kind": "eval_open", "rank": 0, "since": 50.0, "where": "/home/u/train.py:44"}]


def test_a_rank_that_ended_early_is_one_verdict_on_ring_and_nccl():
    from mlxprobe.watching.facts import Stall
    ring = _uneven() + [{"kind": "error", "rank": 0, "type": "RuntimeError",
                         "message": "[ring] connection to a peer was lost"}]
    facts = [{"rank": 0, "pid": 10, "alive": True, "at": 60.0, "threads": []},
             {"rank": 1, "pid": 11, "alive": False}]
    stall = Stall(phase="step", stalled_s=9.0, deadline_s=5.0, last_step=3, cpu_fraction=0.0,
                  runnable_fraction=0.0, compile_s=0.0)
    nccl = RawResult(records=_uneven(), stall=stall, ranks=facts)
    verdicts = [classify(RawResult(records=ring, exit_code=0)), classify(nccl)]
    assert {(v.kind, v.detail) for v in verdicts} == {("hang", "collective")}
    for v in verdicts:
        assert v.reason.startswith("rank 1 finished its loop after step 3 having issued 3 "
                                   "collectives; rank 0 issued collective #4 (all_sum at step "
                                   "4, train.py:41), which rank 1 never joined, and ")
        assert v.evidence["orphaned_collective"]["collective"]["seq"] == 4
        assert "all_min" in v.hint
    assert "raised RuntimeError: [ring] connection" in verdicts[0].reason
    assert "waited in an evaluation at train.py:44 for 9.0 s" in verdicts[1].reason


def test_a_rank_that_raised_or_was_killed_is_the_crash_whoever_waits():
    raised = _uneven() + [{"kind": "error", "rank": 1, "type": "ValueError", "message": "x"}]
    raised = [r for r in raised if r.get("kind") != "end"]
    verdict = classify(RawResult(records=raised, exit_code=0, stderr_tail=""))
    assert verdict.label == "crash:ValueError" and "rank 1 raised ValueError" in verdict.reason
    killed = [r for r in _uneven() if r.get("kind") != "end"] + [
        {"kind": "error", "rank": 0, "type": "RuntimeError", "message": "peer lost"}]
    stderr = "[WARN] Node with rank 1 exited with code -9\n"
    verdict = classify(RawResult(records=killed, exit_code=0, stderr_tail=stderr))
    assert verdict.label == "crash:rank_1_SIGKILL"
    assert "rank 1 exited with code -9 after step 3" in verdict.reason


def test_a_rank_killed_after_its_loop_ended_is_the_launchers_teardown_not_the_fault():
    # CI under load: rank 1 wrote its end record, was still exiting when rank 0 raised, and
    # the launcher's teardown SIGTERMed it ("exited with code -15")
    records = _uneven() + [{"kind": "error", "rank": 0, "type": "RuntimeError",
                            "message": "[ring] connection to a peer was lost"}]
    stderr = "[WARN] Node with rank 1 exited with code -15\n"
    verdict = classify(RawResult(records=records, exit_code=0, stderr_tail=stderr))
    assert verdict.label == "hang:collective"
    assert verdict.evidence["orphaned_collective"]["exit_code"] is None
    failing = [r for r in records if r.get("kind") != "end"]  # killed before its loop ended
    verdict = classify(RawResult(records=failing, exit_code=0, stderr_tail=stderr))
    assert verdict.label == "crash:rank_1_SIGTERM"
