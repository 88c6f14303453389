"""A run's raw facts on disk, so that a run can be judged again by newer rules without running it.

Job: `save(path, argv, raw)` writes the program's command line and the `RawResult` the runner
returned (records, samples, stacks, exit status: everything `classify` reads) to one file;
`load(path)` reads it back. `mlxprobe watch --save-raw PATH` writes one; the corpus scorer
(`benchmarks/accuracy.py --raw DIR`, `--rejudge`) keeps one per script and re-judges the whole
corpus in seconds, so that a new rule is checked against every correct loop before it is kept.

Written with `pickle` (the standard library): the facts are plain dataclasses, dicts and lists,
and no other format round-trips the record store's thinned views without a schema of its own.
The file is a developer's cache, not a report: it is read only by the same mlxprobe that wrote
it (a file from another format version is refused with one line), and only files one made
oneself are to be loaded (pickle runs code from its input).

Must not import: mlx, the runner, the verdict.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from ..errors import UsageError
from ..watching.facts import RawResult

FORMAT = 1  # bumped when RawResult or the record store change shape


def save(path: Path, argv: list[str], raw: RawResult) -> None:
    """Write the command line and the raw facts (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    with temporary.open("wb") as out:
        pickle.dump({"format": FORMAT, "argv": list(argv), "raw": raw}, out,
                    protocol=pickle.HIGHEST_PROTOCOL)
    temporary.replace(path)


def load(path: Path) -> tuple[list[str], RawResult]:
    """The command line and raw facts of a saved run; a UsageError saying why not."""
    try:
        with path.open("rb") as stream:
            saved = pickle.load(stream)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as error:
        raise UsageError(f"cannot read the saved run {path}: {error}; save it again with "
                         "`mlxprobe watch --save-raw PATH`") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise UsageError(f"{path} is not a saved run of this mlxprobe (format {FORMAT}); "
                         "save it again with `mlxprobe watch --save-raw PATH`")
    return saved["argv"], saved["raw"]
