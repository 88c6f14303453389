"""Rule note: the name a misspelt attribute meant, from the program's own NEAR record.

Job: a crash on `AttributeError: 'Autoencoder' object has no attribute 'query_proj'` gets a
hint that leads with the names the object holds closest to the one asked for (read inside the
program at the uncaught error: `inside/near.py`), where Python's own "Did you mean" is silent
on an `nn.Module`'s children. Nothing is said when no record names the message's attribute.

Must not import: mlx, the runner.
"""

from __future__ import annotations

from ..protocol import NEAR
from ..watching.facts import RawResult


def note(raw: RawResult, kind: str, message: str) -> str:
    """'`T` has no `x`; the closest names it holds: ...' for the AttributeError in
    `message`, or ''."""
    if kind != "AttributeError":
        return ""
    for record in reversed(raw.of_kind(NEAR)):
        name, near = record.get("name"), record.get("near") or []
        if isinstance(name, str) and f"'{name}'" in message and near:
            held = (" (its children and parameters, which Python's \"Did you mean\" does not "
                    "read)") if record.get("held") else ""
            names = ", ".join(f"`{n}`" for n in near)
            return (f"`{record.get('type', 'the object')}` has no `{name}`; the closest names "
                    f"it holds: {names}{held}: if `{name}` is misspelt, use one of them. ")
    return ""
