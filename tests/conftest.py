"""Shared fixtures for the harness tests; the child modules are run, never collected."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlxprobe.launching import catalog
from mlxprobe.launching.spec import RunSpec, spec_for
from mlxprobe.watching.watchdog import Deadlines

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
