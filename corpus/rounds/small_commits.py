"""Small commits (<= N changed lines of .py files) in the git mirrors a builder fetched.

    python corpus/rounds/small_commits.py LETTERS N   # owners starting with one of LETTERS

Reads /work/.mirror/OWNER+NAME/repo (fetched with the `fetch` tool) and skips commits whose
short hash is in /work/used_sources.txt or /work/dropped_commits.txt. Standard library only;
must not import mlx or mlxprobe.
"""

import subprocess
import sys
from pathlib import Path

MIRRORS = Path("/work/.mirror")


def commits(mirror: Path) -> list[tuple[str, str, int, list[str]]]:
    """(hash, date and subject, changed .py lines, .py files) of each commit."""
    log = subprocess.run(["git", "--git-dir", str(mirror), "log", "--no-merges", "--numstat",
                          "--format=@@%H %ad %s", "--date=short", "-n", "3000"],
                         capture_output=True, text=True).stdout
    found = []
    for block in log.split("@@")[1:]:
        head, *rows = block.strip().splitlines()
        parts = [r.split("\t") for r in rows]
        files = [p for p in parts if len(p) == 3 and p[2].endswith(".py")]
        lines = sum(int(p[0]) + int(p[1]) for p in files if p[0].isdigit() and p[1].isdigit())
        found.append((head.split()[0], " ".join(head.split()[1:]), lines, [p[2] for p in files]))
    return found


def main(letters: str, limit: int) -> None:
    used = Path("/work/used_sources.txt").read_text() + Path(
        "/work/dropped_commits.txt").read_text()
    for mirror in sorted(MIRRORS.glob("*/repo")):
        repo = mirror.parent.name.replace("+", "/", 1)
        if repo[0].lower() not in letters.lower():
            continue
        for sha, subject, lines, files in commits(mirror):
            if files and lines <= limit and sha[:7] not in used:
                print(f"{repo} {sha[:9]} {subject[:90]} [{lines} lines] {' '.join(files)[:120]}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
