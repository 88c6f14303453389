"""The agent in a Jupyter kernel: which cell runs, and the exception a cell raised.

Job: when a watched process imports IPython's shell (a kernel that `jupyter nbconvert
--execute`, nbclient or a notebook server started with the bootstrap on PYTHONPATH: the
kernel is a child of it and inherits the environment), each new shell gets two event
callbacks: `pre_run_cell` writes a `cell` record (the execution count, the front end's cell
id where it sends one, the cell's first line), `post_run_cell` a `cell_end` record and, when
the cell raised, an `error` record naming the cell: IPython catches a cell's exception and
shows it, so no excepthook ever sees it, and the kernel lives on. Nothing else changes: the
callbacks only write records.

May import: the standard library and the inside modules. Must not import: the watching side,
IPython itself (the hook gets its module).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from types import ModuleType

from ..protocol import ERROR
from .recorder import Probe

CELL, CELL_END = "cell", "cell_end"
SHELL_MODULE = "IPython.core.interactiveshell"
FIRST_LINE = 120


def patch_shell(probe: Probe, module: ModuleType) -> None:
    """Make every InteractiveShell created from now on report its cells."""
    shell_class = module.InteractiveShell
    original = shell_class.__init__

    def init(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        original(self, *args, **kwargs)
        watch_cells(probe, self)

    shell_class.__init__ = init


def displayed_count(shell: object) -> int | None:
    """The number the notebook shows beside the cell about to run (`[2]`). IPython 9 adds
    one to `execution_count` before `pre_run_cell` fires (8 after the cell ran), so it reads
    one high there; the inputs already in the history (a leading empty entry, then one per
    cell run) are the count either way: measured with ipykernel 7.4 / IPython 9.18, the
    second cell saw execution_count 3 and 2 history entries."""
    history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    if isinstance(history, list) and history:
        return len(history)
    return getattr(shell, "execution_count", None)


def watch_cells(probe: Probe, shell: object,
                watched: Callable[[str], bool] | None = None) -> None:
    """Register the shell's cell events; `watched(source)` (the magics') marks the cells a
    notebook watcher should judge, in the record's `watched` field."""
    state: dict = {}

    def before(info: object) -> None:
        source = str(getattr(info, "raw_cell", "") or "")
        lines = [ln.strip() for ln in source.splitlines() if ln.strip()]
        first = next((ln for ln in lines if not ln.startswith("%%")), lines[0] if lines else "")
        state["cell"] = {"count": displayed_count(shell),
                         "cell_id": getattr(info, "cell_id", None),
                         "first_line": first[:FIRST_LINE], "lines": source.count("\n") + 1}
        if watched is not None:
            state["cell"]["watched"] = watched(source)
        probe.emit(CELL, **state["cell"])

    def after(result: object) -> None:
        cell = state.get("cell", {})
        error = getattr(result, "error_in_exec", None)
        if error is not None:  # before the cell's end: a watcher judges the cell with it
            text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            probe.emit(ERROR, type=type(error).__name__, message=str(error)[:4000],
                       traceback=text[-8000:], cell=cell)
        probe.emit(CELL_END, count=cell.get("count"), ok=error is None)

    shell.events.register("pre_run_cell", before)  # type: ignore[attr-defined]
    shell.events.register("post_run_cell", after)  # type: ignore[attr-defined]
