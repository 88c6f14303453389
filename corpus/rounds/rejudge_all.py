"""Judge every kept raw run again with the rules as they are: one line per run.

    python corpus/rounds/rejudge_all.py OUT [RAW_DIR]    # RAW_DIR: accuracy.py's --raw

Each line: half, script, role, verdict, md5 of the hint; compare two outputs (before and after
a rule change, `git stash`) to see which verdicts and hints it moved. ROOT=<another checkout>
judges with that checkout's benchmarks/accuracy.py. Must not import mlx.
"""

import hashlib
import os
import sys
from pathlib import Path

sys.path.insert(0, os.environ.get("ROOT", str(Path(__file__).resolve().parents[2]))
                + "/benchmarks")
import accuracy  # noqa: E402  (the checkout's own scorer, found by ROOT)


def runs(raw_dir: Path) -> list[str]:
    keep, out = accuracy.Keep(raw_dir, True), []
    for half in sorted(p.name for p in raw_dir.iterdir()):
        if not (accuracy.CORPUS / half / "cases.toml").exists():
            continue
        for case in accuracy.load(accuracy.CORPUS, half):
            roles = ([("broken", case["broken"]), ("ok", case["ok"])]
                     if case["kind"] == "failure" else [("correct", case["script"])])
            for role, script in roles:
                raw, linted = keep.paths(accuracy.CORPUS / half, script)
                if raw.exists() and linted.exists():
                    run = accuracy.scored_run(accuracy.CORPUS / half, script, role,
                                              case.get("args", []), keep)
                    digest = hashlib.md5(run.hint.encode()).hexdigest()[:8]
                    out.append(f"{half} {script} {role} {run.verdict} {digest}")
    return out


if __name__ == "__main__":
    lines = runs(Path(sys.argv[2] if len(sys.argv) > 2 else "/work/rawcache"))
    Path(sys.argv[1]).write_text("\n".join(lines) + "\n")
    alarms = sum(1 for line in lines if line.split()[2] != "broken"
                 and not line.split()[3].startswith("pass"))
    print(len(lines), "runs;", alarms, "clean runs not pass")
