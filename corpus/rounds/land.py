"""Land a round's builder folders /work/freshN?/ into corpus/freshN/, unread.

    python corpus/rounds/land.py N STOP

Copies each case's scripts, joins the builders' cases.toml and README.md files and writes
UNSCORED (removed after the half's one score). Standard library only; must not import mlx or
mlxprobe.
"""

import shutil
import sys
from pathlib import Path

import tomllib

CORPUS = Path(__file__).resolve().parent.parent


def land(n: int, stop: int) -> tuple[int, int]:
    target = CORPUS / f"fresh{n}"
    target.mkdir(exist_ok=True)
    tomls, readme, counts = [], [], [0, 0]
    for folder in sorted(Path("/work").glob(f"fresh{n}?")):
        if not (folder / "cases.toml").exists():
            continue
        text = (folder / "cases.toml").read_text()
        for case in tomllib.loads(text).get("case", []):
            counts[case["kind"] != "failure"] += 1
            for key in ("broken", "ok", "script"):
                if key in case:
                    shutil.copy(folder / case[key], target / case[key])
        tomls.append(text.strip() + "\n")
        readme.append(f"## builder {folder.name[-1]}\n\n{(folder / 'README.md').read_text()}")
    title = f"# fresh{n}: held-out half of round {n + 1} (builders, stop {stop}), landed unread\n"
    (target / "cases.toml").write_text("\n".join(tomls))
    (target / "README.md").write_text("\n".join([title, *readme]))
    (target / "UNSCORED").write_text("")
    return counts[0], counts[1]


if __name__ == "__main__":
    pairs, loops = land(int(sys.argv[1]), int(sys.argv[2]))
    print(f"fresh{sys.argv[1]}: {pairs} failure pairs, {loops} correct loops")
