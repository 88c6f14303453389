"""The scenarios' text corpus is cached on disk: every child after the first reads it instead of
parsing 36 stdlib modules (0.4-0.65 s a child). The cached bytes are the built ones, a cache
that cannot be written only costs the build, and the file is named by what it is built from."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlxprobe_scenarios import _text


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLXPROBE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_first_build_is_stored_and_equals_the_corpus(cache: Path):
    data = _text._cached_build()
    stored = list(cache.glob("corpus-*.txt"))
    assert len(stored) == 1
    assert stored[0].read_bytes() == data == _text._build()
    assert not [p for p in cache.iterdir() if p not in stored]  # no temp file left behind


def test_later_builds_read_the_stored_file(cache: Path):
    _text._cached_build()
    path = _text._cache_path()
    path.write_bytes(b"from the cache")
    assert _text._cached_build() == b"from the cache"


def test_an_unwritable_cache_still_gives_the_corpus(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("MLXPROBE_CACHE", str(blocker))
    assert _text._cached_build() == _text._build()


def test_the_cache_name_changes_with_its_sources(cache: Path, monkeypatch: pytest.MonkeyPatch):
    before = _text._cache_path()
    monkeypatch.setattr(_text, "MODULES", _text.MODULES[:-1])
    assert _text._cache_path() != before
