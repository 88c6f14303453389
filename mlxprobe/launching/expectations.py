"""Expected verdicts that depend on the installed mlx: `SCENARIO["expected_before_mlx"]`.

Job: a scenario whose bug only exists in some mlx releases says so in its literal metadata,
e.g. `"expected_before_mlx": {"0.32": {"broken": "pass"}}`: with mlx older than 0.32 those
variants are expected to pass (the bug cannot be reproduced there). Bounds apply from the
highest down, so a lower bound refines a higher one. The installed version is read from the
package metadata: mlx is never imported here.

Must not import: mlx, the runner, the verdict.
"""

from __future__ import annotations

import re
from importlib import metadata

KEY = "expected_before_mlx"


def parse(version: str) -> tuple[int, ...]:
    """'0.32.4' -> (0, 32, 4); trailing non-numeric parts ('0.33.0.dev1') are ignored."""
    parts = []
    for piece in version.split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


def installed_mlx() -> tuple[int, ...] | None:
    for dist in ("mlx", "mlx-cpu"):
        try:
            return parse(metadata.version(dist))
        except metadata.PackageNotFoundError:
            continue
    return None


def resolve(meta: dict, version: tuple[int, ...] | None = None) -> dict[str, str]:
    """Variant -> expected verdict for `version` (default: the installed mlx)."""
    expected = {str(k): str(v) for k, v in meta["variants"].items()}
    version = installed_mlx() if version is None else version
    bounds = meta.get(KEY) or {}
    if version is None:
        return expected
    for bound in sorted(bounds, key=parse, reverse=True):
        if version < parse(bound):
            expected.update({str(k): str(v) for k, v in bounds[bound].items()})
    return expected
