"""Shared fixtures for the harness tests; the child modules are run, never collected."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

from mlxprobe.launching import catalog
from mlxprobe.launching.spec import RunSpec, spec_for
from mlxprobe.watching.watchdog import Deadlines

# Properties, not timings: hypothesis's default 200 ms deadline per example is a timed unit
# test, which fails on a loaded 2-core machine (a 21 ms classify took > 200 ms at a load
# average of 15); speed is measured in benchmarks/.
settings.register_profile("mlxprobe", deadline=None)
settings.load_profile("mlxprobe")

collect_ignore_glob = ["children/*"]
CHILDREN = Path(__file__).parent / "children"


def child_spec(variant: str, module: str = "plain", **deadlines: float) -> RunSpec:
    """A spec for a plain-Python child variant, with short deadlines for tests."""
    scenario = catalog.load_file(CHILDREN / f"{module}.py")
    assert scenario is not None
    settings = {"startup_s": 20.0, "step_floor_s": 1.0, "budget_s": 60.0, "grace_s": 1.0}
    settings.update(deadlines)
    return spec_for(scenario, variant, Deadlines(**settings))


@pytest.fixture
def children() -> Path:
    return CHILDREN
