"""The child-side probe records what it is given and never evaluates an array."""

from __future__ import annotations

import io
import json

from mlxprobe.inside.recorder import Probe, plain


class Untouchable:
    """Stands for a lazy array: any attempt to read its value fails the test."""

    def __float__(self) -> float:
        raise AssertionError("the probe read a value the loop did not evaluate")

    item = tolist = __array__ = __float__


def records(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_unevaluated_values_are_recorded_by_type_only() -> None:
    out = io.StringIO()
    probe = Probe(out)
    probe.step(loss=Untouchable(), grad_norm=Untouchable(), lr=1e-3)
    [rec] = records(out)
    assert rec["loss"] == {"unrecorded": "Untouchable"}
    assert rec["metrics"] == {"grad_norm": {"unrecorded": "Untouchable"}, "lr": 1e-3}
    assert rec["step"] == 1 and rec["step_s"] >= 0


def test_real_mlx_array_is_recorded_by_type_only() -> None:
    import mlx.core as mx

    out = io.StringIO()
    lazy = mx.ones((4,)) * 2
    Probe(out).step(loss=lazy)
    assert records(out)[0]["loss"] == {"unrecorded": "array"}


def test_non_finite_floats_become_strings() -> None:
    assert plain([float("nan"), float("inf"), -float("inf"), 1.5]) == ["nan", "inf", "-inf", 1.5]


def test_without_a_record_fd_the_probe_is_a_no_op(monkeypatch) -> None:
    monkeypatch.delenv("MLXPROBE_RECORD_FD", raising=False)
    probe = Probe.from_env()
    probe.step(loss=1.0)
    probe.check("x", False)
    assert not probe.active


def test_a_closed_pipe_stops_recording_without_raising() -> None:
    out = io.StringIO()
    probe = Probe(out)
    out.close()
    probe.step(loss=1.0)
    assert not probe.active
