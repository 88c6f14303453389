"""The HTML test's browser is found where it is, or the test says in one line what to install."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import INSTALL, BrowserMissing, find_browser


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_chromium_on_path_comes_first(tmp_path: Path) -> None:
    executable(tmp_path / "bin" / "google-chrome")
    debian = executable(tmp_path / "bin" / "chromium")
    assert find_browser({"PATH": str(tmp_path / "bin")}, ()) == str(debian)


def test_chrome_and_chromium_browser_are_found(tmp_path: Path) -> None:
    chrome = executable(tmp_path / "bin" / "google-chrome")
    assert find_browser({"PATH": str(tmp_path / "bin")}, ()) == str(chrome)


def test_the_variable_wins_as_a_path_or_a_command(tmp_path: Path) -> None:
    mine = executable(tmp_path / "my browser" / "chrome-beta")
    executable(tmp_path / "bin" / "chromium")
    env = {"PATH": str(tmp_path / "bin"), "CHROMIUM": str(mine)}
    assert find_browser(env, ()) == str(mine)
    assert find_browser({**env, "CHROMIUM": "chromium"}, ()) == str(tmp_path / "bin" / "chromium")


def test_a_bad_variable_is_one_line_not_a_fallback(tmp_path: Path) -> None:
    executable(tmp_path / "bin" / "chromium")
    with pytest.raises(BrowserMissing, match=r"^CHROMIUM=/no/such is not an executable browser"):
        find_browser({"PATH": str(tmp_path / "bin"), "CHROMIUM": "/no/such"}, ())


def test_macos_app_bundles_are_found(tmp_path: Path) -> None:
    app = executable(tmp_path / "Google Chrome.app" / "Contents" / "MacOS" / "Google Chrome")
    assert find_browser({"PATH": str(tmp_path / "empty")}, (tmp_path,)) == str(app)


def test_none_found_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(BrowserMissing) as missing:
        find_browser({"PATH": str(tmp_path)}, (tmp_path,))
    message = str(missing.value)
    assert message == INSTALL and "\n" not in message
    assert "apt-get install chromium" in message and "CHROMIUM=" in message
