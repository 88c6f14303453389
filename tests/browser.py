"""Where the browser for the HTML report's test is: found where it is, or one line saying
what to install (the test then fails; a missing browser is never a silent pass in CI).

Order: `$CHROMIUM` (a path or a command name), then on PATH `chromium` (Debian's, which the
README's test command installs), `chromium-browser`, `google-chrome`, `google-chrome-stable`,
`chrome`, then the macOS app bundles in /Applications and ~/Applications.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ENV = "CHROMIUM"
COMMANDS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
BUNDLES = ("Google Chrome.app/Contents/MacOS/Google Chrome",
           "Chromium.app/Contents/MacOS/Chromium")
INSTALL = ("no Chromium or Chrome found for the HTML page test: on Debian/Ubuntu "
           "`apt-get install chromium` (the README's test command does it), on macOS install "
           "Google Chrome or `brew install --cask chromium`, or set CHROMIUM=/path/to/browser")


class BrowserMissing(Exception):
    """No usable browser; the message is one line saying what to do."""


def find_browser(environ: dict[str, str] | None = None,
                 app_folders: tuple[Path, ...] | None = None) -> str:
    environ = os.environ if environ is None else environ
    chosen = environ.get(ENV, "").strip()
    if chosen:
        return _explicit(chosen, environ.get("PATH"))
    for name in COMMANDS:
        found = shutil.which(name, path=environ.get("PATH"))
        if found:
            return found
    folders = app_folders if app_folders is not None else \
        (Path("/Applications"), Path.home() / "Applications")
    for folder in folders:
        for bundle in BUNDLES:
            if _runnable(folder / bundle):
                return str(folder / bundle)
    raise BrowserMissing(INSTALL)


def _explicit(chosen: str, path: str | None) -> str:
    found = shutil.which(chosen, path=path) if os.sep not in chosen else \
        (chosen if _runnable(Path(chosen)) else None)
    if not found:
        raise BrowserMissing(f"{ENV}={chosen} is not an executable browser; unset it or point "
                             "it at Chromium or Chrome")
    return found


def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
