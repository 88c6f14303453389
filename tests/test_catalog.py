"""The catalogue reads metadata statically and selects scenarios with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlxprobe.errors import UsageError
from mlxprobe.launching import catalog

META = ('SCENARIO = {"id": "%s", "title": "t", "variants": {"broken": "hang", "fixed": "pass"}}\n'
        "def broken(probe): ...\ndef fixed(probe): ...\n")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_metadata_is_read_without_running_the_module(tmp_path: Path) -> None:
    write(tmp_path, "a.py", META % "a" + "raise SystemExit('must not run')\n")
    [s] = catalog.discover(tmp_path)
    assert s.id == "a" and s.variants == {"broken": "hang", "fixed": "pass"}
    assert s.module == "a" and s.import_root == tmp_path.resolve()


def test_package_folder_gives_dotted_module(tmp_path: Path) -> None:
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    write(pkg, "__init__.py", "")
    write(pkg, "b.py", META % "b")
    [s] = catalog.discover(pkg)
    assert s.module == "mypkg.b" and s.import_root == tmp_path.resolve()


def test_private_and_plain_modules_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "_helper.py", META % "h")
    write(tmp_path, "util.py", "X = 1\n")
    with pytest.raises(UsageError, match="no scenario modules found in"):
        catalog.discover(tmp_path)
    write(tmp_path, "real.py", META % "r")
    assert [s.id for s in catalog.discover(tmp_path)] == ["r"]


@pytest.mark.parametrize("override, words", [
    ('{"0.32.1": {"broken": "no_updte"}}', "'no_updte' for 'broken'"),
    ('{"0.32.1": {"brokn": "pass"}}', "names variant 'brokn'"),
    ('{"latest": {"broken": "pass"}}', "'latest' is not an mlx version"),
    ('{"0.32.1": "pass"}', "must map variant names"),
    ('["0.32.1"]', "must map mlx versions"),
])
def test_expected_before_mlx_is_checked_statically(tmp_path: Path, override: str,
                                                    words: str) -> None:
    text = META.replace('"variants"', f'"expected_before_mlx": {override}, "variants"')
    write(tmp_path, "versioned.py", text % "v")
    with pytest.raises(UsageError) as caught:
        catalog.discover(tmp_path)
    message = str(caught.value)
    assert message.startswith(str(tmp_path / "versioned.py") + ": ") and words in message
    assert "\n" not in message


@pytest.mark.parametrize("text, words", [
    ("SCENARIO = {'id': 'x'}\n", "lacks"),
    ("SCENARIO = dict(id='x')\n", "literal"),
    ("SCENARIO = {\n", "syntax error"),
])
def test_bad_metadata_is_a_usage_error(tmp_path: Path, text: str, words: str) -> None:
    write(tmp_path, "bad.py", text)
    with pytest.raises(UsageError, match=words):
        catalog.discover(tmp_path)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.py", META % "same")
    write(tmp_path, "b.py", META % "same")
    with pytest.raises(UsageError, match="twice"):
        catalog.discover(tmp_path)


def test_select_suggests_close_matches(tmp_path: Path) -> None:
    write(tmp_path, "a.py", META % "lazy-metrics")
    scenarios = catalog.discover(tmp_path)
    with pytest.raises(UsageError, match="did you mean lazy-metrics"):
        catalog.select(scenarios, "lazy-metric")
    with pytest.raises(UsageError, match="has no variant"):
        catalog.variants_of(scenarios[0], "medium")


def test_bundled_scenarios_are_found() -> None:
    ids = [s.id for s in catalog.discover()]
    assert "step2-hang" in ids
