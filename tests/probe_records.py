"""Helper of the parameter-look tests: a probe stand-in that keeps what a watch emits."""

from __future__ import annotations


class Records:
    """Collects what the watch writes (the probe's emit)."""

    def __init__(self) -> None:
        self.got: list[dict] = []

    def emit(self, kind: str, **fields: object) -> None:
        self.got.append({"kind": kind, **fields})
