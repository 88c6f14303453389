"""mlxprobe's bootstrap: runs before a watched Python program's own code, changes none of it.

`mlxprobe watch` puts this folder first on PYTHONPATH (inherited by every Python process the
program starts, ranks and workers included). Python imports `sitecustomize` at start-up; this
one sets up mlxprobe's agent (`mlxprobe.inside.agent`) when MLXPROBE_BOOTSTRAP=1, then finds
and runs the `sitecustomize` the environment would have run without us (the way tracing
agents chain), so nothing the program relies on is lost. Any failure here is one line on
stderr: the program runs on, unwatched.

Must not import: mlx (the agent hooks its import instead), anything at module level beyond
the standard library.
"""

import importlib.machinery
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _start_agent() -> None:
    home = os.environ.get("MLXPROBE_HOME", "")
    added = bool(home) and home not in sys.path
    if added:
        sys.path.append(home)  # last: never shadows a module of the program's own
    try:
        from mlxprobe.inside import agent

        agent.start()
    except Exception as exc:  # noqa: BLE001 - the program must run even if we cannot
        sys.stderr.write(f"mlxprobe: bootstrap failed, not watching this process: {exc!r}\n")
    finally:
        if added and home in sys.path:
            sys.path.remove(home)


def _chain() -> None:
    """Run the next `sitecustomize` on the path, as Python would have without us."""
    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


if os.environ.get("MLXPROBE_BOOTSTRAP") == "1":
    _start_agent()
_chain()
