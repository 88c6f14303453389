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


def problem(meta: dict, kinds: tuple[str, ...]) -> str | None:
    """Why `meta[KEY]` is unusable (checked statically by the catalogue), or None: each bound
    a version string, mapping variants the scenario has to a known verdict kind."""
    bounds = meta.get(KEY)
    if bounds is None:
        return None
    if not isinstance(bounds, dict):
        return f"SCENARIO[{KEY!r}] must map mlx versions to {{variant: verdict}}"
    for bound, overrides in bounds.items():
        if not isinstance(bound, str) or not parse(bound):
            return f"SCENARIO[{KEY!r}]: {bound!r} is not an mlx version like '0.32.1'"
        if not isinstance(overrides, dict) or not overrides:
            return f"SCENARIO[{KEY!r}][{bound!r}] must map variant names to verdicts"
        found = next((p for v, e in overrides.items()
                      if (p := _override_problem(meta, bound, v, e, kinds))), None)
        if found:
            return found
    return None


def _override_problem(meta: dict, bound: str, variant: object, expected: object,
                      kinds: tuple[str, ...]) -> str | None:
    where = f"SCENARIO[{KEY!r}][{bound!r}]"
    if variant not in meta["variants"]:
        return f"{where} names variant {variant!r}, which SCENARIO['variants'] does not list"
    if str(expected).partition(":")[0] not in kinds:
        return (f"{where} expects {expected!r} for {variant!r}; the verdict must be one of "
                f"{', '.join(kinds)} (or kind:detail)")
    return None


def applied_bound(meta: dict, variant: str, version: tuple[int, ...] | None = None) -> str | None:
    """The bound whose override set `variant`'s expectation for `version` (default: the
    installed mlx), e.g. '0.32.1'; None when the scenario's own expectation applies."""
    version = installed_mlx() if version is None else version
    applied = None
    for bound in sorted(meta.get(KEY) or {}, key=parse, reverse=True):
        if version is not None and version < parse(bound) and variant in meta[KEY][bound]:
            applied = str(bound)
    return applied


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
