"""Version-dependent expectations resolve from the installed mlx, without importing it."""

from __future__ import annotations

from mlxprobe.launching.expectations import parse, resolve

META = {"variants": {"broken": "no_update", "fixed": "pass"},
        "expected_before_mlx": {"0.32": {"broken": "pass"}, "0.30": {"broken": "crash"}}}


def test_parse_versions() -> None:
    assert parse("0.32.4") == (0, 32, 4)
    assert parse("0.33.0.dev20260101") == (0, 33, 0)


def test_current_release_keeps_the_base_expectation() -> None:
    assert resolve(META, (0, 32, 4)) == {"broken": "no_update", "fixed": "pass"}


def test_older_release_takes_the_override() -> None:
    assert resolve(META, (0, 31, 2))["broken"] == "pass"


def test_lower_bound_refines_a_higher_one() -> None:
    assert resolve(META, (0, 29, 4))["broken"] == "crash"


def test_no_overrides_and_no_mlx() -> None:
    assert resolve({"variants": {"a": "pass"}}, None) == {"a": "pass"}
