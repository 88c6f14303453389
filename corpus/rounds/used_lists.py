"""The lists a corpus builder greps before claiming a source (issue 21's rounds).

Writes, under /work: used_sources.txt (every `source` URL of every `corpus/*/cases.toml`),
used_names.txt (every case name), used_styles.txt (every correct loop's style line) and
dropped_commits.txt (every line under a "dropped" heading of a half's README). Run before each
round: `python corpus/rounds/used_lists.py`. Standard library only; must not import mlx or
mlxprobe.
"""

from pathlib import Path

import tomllib

CORPUS = Path(__file__).resolve().parent.parent
OUT = Path("/work")


def sources() -> tuple[list[str], list[str], list[str]]:
    urls, names, styles = [], [], []
    for toml in sorted(CORPUS.glob("*/cases.toml")):
        for case in tomllib.loads(toml.read_text()).get("case", []):
            source = case.get("source", "")
            names.append(case["name"])
            if source.startswith("http"):
                urls.append(source)
            else:
                styles.append(f"{toml.parent.name} {source}")
    return urls, names, styles


def dropped() -> list[str]:
    found = []
    for readme in sorted(CORPUS.glob("*/README.md")):
        keep = False
        for line in readme.read_text().splitlines():
            if line.startswith("#"):
                keep = "dropped" in line.lower()
            elif keep and line.strip():
                found.append(f"{readme.parent.name}: {line.strip()}")
    return found


if __name__ == "__main__":
    urls, names, styles = sources()
    lines = dropped()
    (OUT / "used_sources.txt").write_text("\n".join(urls) + "\n")
    (OUT / "used_names.txt").write_text("\n".join(sorted(set(names))) + "\n")
    (OUT / "used_styles.txt").write_text("\n".join(styles) + "\n")
    (OUT / "dropped_commits.txt").write_text("\n".join(lines) + "\n")
    print(len(urls), len(set(names)), len(styles), len(lines))
