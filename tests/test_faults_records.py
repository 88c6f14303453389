"""Whatever a child writes on its record pipe, the parent gives a verdict and a report entry.

tests/test_records.py shows the line parser survives arbitrary bytes. These properties go on
from there: any JSON the child sends, with any field of any type (strings for numbers, NaN,
huge integers, lists for dicts), passes through the parser, `classify` and `report.run_entry`
and yields a strict-JSON entry, never an exception. Records whose fields the parent computes
with have the wrong types: they are counted as malformed, not half-used.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from mlxprobe.judging.verdict import classify
from mlxprobe.launching.spec import RunSpec
from mlxprobe.results import report
from mlxprobe.watching.facts import RawResult, Sample, Stall
from mlxprobe.watching.records import FIELDS, LineParser, well_formed

FIELD_NAMES = sorted({name for fields in FIELDS.values() for name in fields}
                     | {"loss", "metrics", "memory", "type", "message", "traceback", "info"})
METRIC_NAMES = ["grad_norm", "param_delta", "params_finite", "fallback", "val_loss",
                "mx_active", "mx_peak"]
SPEC = RunSpec("s", "v", "pass", import_root=__import__("pathlib").Path("."), module="m")

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(METRIC_NAMES), inner, max_size=3)), max_leaves=4)
records = st.fixed_dictionaries(
    {"kind": st.one_of(st.sampled_from(["step", "check", "start", "end", "error", "note"]),
                       st.text(max_size=4), st.integers())},
    optional={name: values for name in FIELD_NAMES})


def as_line(record: dict) -> bytes:
    """JSON as Python writes it when allow_nan is on: NaN, Infinity (the probe never does)."""
    return json.dumps(record).encode() + b"\n"


def judged(lines: list[bytes], stalled: bool) -> dict:
    parser = LineParser()
    parsed = [r for line in lines for r in parser.feed(line)]
    for i, rec in enumerate(parsed):
        rec["t"] = 1.0 + 0.01 * i
    samples = [Sample(1.0 + 0.01 * i, (50 + i) * 2**20, 0.01 * i, 1, False) for i in range(60)]
    stall = Stall("step", 1.5, 1.6, 0.2, 0.1, 0.0, 3) if stalled else None
    raw = RawResult(records=parsed, malformed=parser.malformed, samples=samples,
                    exit_code=None if stalled else 0, signal=15 if stalled else None,
                    stall=stall)
    verdict = classify(raw, {"learning_metric": "val_loss"})
    entry = report.run_entry(SPEC, raw, verdict)
    json.dumps(entry, allow_nan=False)  # what report.write demands
    return entry


@settings(max_examples=80, deadline=None)
@given(st.lists(records, max_size=15), st.booleans())
def test_any_records_give_a_verdict_and_a_strict_json_entry(recs: list[dict],
                                                            stalled: bool) -> None:
    entry = judged([as_line(r) for r in recs], stalled)
    assert entry["verdict"] in {"pass", "hang", "crash", "leak", "diverged", "not_learning",
                                "no_update", "wrong_result"}
    assert entry["evidence"].get("malformed_records", 0) == sum(1 for r in recs if not ok(r))


def ok(record: dict) -> bool:
    """What the parser should accept: no NaN/Infinity on the wire, and well formed."""
    try:
        parsed = json.loads(json.dumps(record), parse_constant=_refuse)
    except ValueError:
        return False
    return well_formed(parsed)


def _refuse(name: str) -> None:
    raise ValueError(name)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=12, max_size=60), st.data())
def test_well_formed_steps_are_all_kept(steps: list[int], data: st.DataObject) -> None:
    """Valid step records (any metrics) are never thrown away by the field checks."""
    losses = data.draw(st.lists(st.floats(-1e6, 1e6), min_size=len(steps),
                                max_size=len(steps)))
    lines = [as_line({"kind": "step", "step": s, "step_s": 0.001, "loss": loss,
                      "metrics": {"grad_norm": 1.0}, "memory": {"mx_active": 1024}})
             for s, loss in zip(steps, losses)]
    entry = judged(lines, stalled=False)
    assert entry["metrics"]["steps"] == len(steps)
    assert "malformed_records" not in entry["evidence"]


def test_wrong_types_are_malformed() -> None:
    for record in ({"kind": "step"}, {"kind": "step", "step": "1"},
                   {"kind": "step", "step": True}, {"kind": "step", "step": 1, "metrics": []},
                   {"kind": "step", "step": 1, "step_s": float("nan")},
                   {"kind": "step", "step": 2**80}, {"kind": "check", "name": "x"},
                   {"kind": "check", "name": "x", "ok": 1}, {"kind": "start", "pid": "1"}):
        assert not well_formed(record), record
    assert well_formed({"kind": "step", "step": 1, "loss": {"unrecorded": "array"}})
    assert well_formed({"kind": "future-kind", "anything": [1, {"a": None}]})
