"""Static evidence for a dynamic verdict: lint the program's own files and join the findings
that explain the verdict to its report entry.

Job: a step after `classify` (the verdict stays what the run showed). Lint the main script and
the files in the Python stacks (never site-packages, the standard library or mlxprobe
itself). For a verdict other than `pass`, split the findings: those whose rule produces this
verdict class at run time (`EXPLAINS`) go to `lint.explains` and raise the hint to their
exact line ("lint MLX001 at train.py:25: ..."); the others are listed apart (`lint.other`),
never in the hint. A run that passed keeps its findings apart too (`lint.unshown`: bugs some
runs show that this one did not, such as a position encoding never applied on a task that
still learns a little); its hint stays empty. Nothing here changes the verdict's kind,
reason or evidence.

Must not import: mlx, the child side, reporters.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

from ..lint.catalogue import RULES
from ..lint.engine import lint_source
from ..lint.finding import Finding

# Verdict class -> the rules whose bug shows at run time as that class (each rule's `why`).
EXPLAINS: dict[str, frozenset[str]] = {
    "hang": frozenset({"MLX255", "MLX246", "MLX001", "MLX008", "MLX014", "MLX050", "MLX051",
                       "MLX061", "MLX073", "MLX074", "MLX114"}),
    "leak": frozenset({"MLX269", "MLX255", "MLX221", "MLX205", "MLX178", "MLX001", "MLX008",
                       "MLX013",
                       "MLX014", "MLX052",
                       "MLX055",
                       "MLX057",
                       "MLX066", "MLX104", "MLX105", "MLX114"}),
    "crash": frozenset({"MLX281",
                        "MLX278", "MLX275", "MLX274", "MLX273", "MLX271", "MLX270", "MLX268",
                        "MLX262", "MLX261",
                        "MLX260", "MLX259", "MLX258",
                        "MLX257", "MLX254", "MLX253", "MLX252", "MLX251", "MLX250", "MLX249",
                        "MLX248", "MLX246", "MLX245", "MLX244",
                        "MLX243", "MLX242", "MLX240", "MLX238",
                        "MLX236", "MLX235",
                        "MLX234", "MLX233", "MLX232", "MLX231",
                        "MLX229", "MLX228", "MLX226", "MLX222", "MLX220", "MLX004", "MLX214",
                        "MLX213",
                        "MLX212",
                        "MLX207",
                        "MLX204",
                        "MLX201",
                        "MLX200",
                        "MLX199",
                        "MLX196",
                        "MLX194",
                        "MLX190",
                        "MLX186",
                        "MLX184",
                        "MLX182",
                        "MLX180",
                        "MLX007",
                        "MLX009",
                        "MLX015", "MLX017", "MLX018", "MLX023",
                        "MLX024",
                        "MLX026", "MLX027", "MLX030", "MLX031", "MLX037", "MLX038",
                        "MLX039", "MLX042", "MLX044", "MLX045", "MLX047", "MLX050",
                        "MLX053", "MLX058", "MLX059", "MLX060", "MLX079",
                        "MLX081", "MLX087", "MLX094", "MLX096",
                        "MLX097", "MLX100", "MLX101", "MLX107", "MLX110", "MLX112",
                        "MLX115", "MLX116", "MLX119", "MLX120",
                        "MLX121", "MLX122", "MLX124", "MLX125", "MLX132",
                        "MLX133", "MLX134", "MLX135", "MLX136", "MLX137", "MLX139",
                        "MLX141", "MLX143", "MLX145", "MLX146", "MLX147", "MLX148", "MLX149",
                        "MLX151", "MLX153", "MLX155",
                        "MLX156", "MLX157", "MLX160", "MLX161",
                        "MLX162", "MLX163", "MLX165", "MLX168",
                        "MLX170", "MLX171", "MLX173", "MLX174", "MLX175"}),
    "diverged": frozenset({"MLX279", "MLX264",
                           "MLX237", "MLX230", "MLX189", "MLX183", "MLX181", "MLX167", "MLX169",
                           "MLX004",
                           "MLX005", "MLX020", "MLX022", "MLX025", "MLX028",
                           "MLX032", "MLX035", "MLX041", "MLX043", "MLX048",
                           "MLX062", "MLX067", "MLX077", "MLX083", "MLX084", "MLX085",
                           "MLX089", "MLX090", "MLX098", "MLX102",
                           "MLX103", "MLX111", "MLX113", "MLX123", "MLX126",
                           "MLX128"}),
    "not_learning": frozenset({"MLX283", "MLX282", "MLX276", "MLX272", "MLX267", "MLX266",
                               "MLX265", "MLX263",
                               "MLX241", "MLX238", "MLX237", "MLX227", "MLX226", "MLX225",
                               "MLX224", "MLX218",
                               "MLX217", "MLX216",
                               "MLX211",
                               "MLX210",
                               "MLX209",
                               "MLX208",
                               "MLX207", "MLX206",
                               "MLX203",
                               "MLX202",
                               "MLX198",
                               "MLX197",
                               "MLX195", "MLX194",
                               "MLX193", "MLX192",
                               "MLX191", "MLX190", "MLX188", "MLX183", "MLX176", "MLX002", "MLX003",
                               "MLX006", "MLX010",
                               "MLX011", "MLX012", "MLX016", "MLX019", "MLX021", "MLX029",
                               "MLX033", "MLX034",
                               "MLX036", "MLX040", "MLX044", "MLX046", "MLX048",
                               "MLX049", "MLX053", "MLX054", "MLX056",
                               "MLX058", "MLX063", "MLX064", "MLX065", "MLX068",
                               "MLX069", "MLX070", "MLX071", "MLX072",
                               "MLX075", "MLX076", "MLX077", "MLX078",
                               "MLX082", "MLX084", "MLX085", "MLX086",
                               "MLX088", "MLX089", "MLX090", "MLX091",
                               "MLX092", "MLX093", "MLX095", "MLX096",
                               "MLX097", "MLX098", "MLX099", "MLX102",
                               "MLX103", "MLX106", "MLX108", "MLX109", "MLX110",
                               "MLX113", "MLX117", "MLX118", "MLX124", "MLX126",
                               "MLX127", "MLX129", "MLX130", "MLX131",
                               "MLX132", "MLX138", "MLX140", "MLX158", "MLX159",
                               "MLX164", "MLX166", "MLX172"}),
    "wrong_result": frozenset({"MLX280",
                               "MLX277", "MLX276", "MLX272", "MLX267", "MLX263", "MLX256", "MLX247",
                               "MLX241", "MLX225",
                               "MLX223", "MLX219",
                               "MLX215", "MLX210", "MLX209", "MLX208",
                               "MLX207",
                               "MLX206",
                               "MLX203",
                               "MLX195",
                               "MLX193",
                               "MLX192",
                               "MLX191", "MLX190", "MLX179", "MLX176", "MLX175", "MLX142", "MLX144",
                               "MLX146", "MLX150",
                               "MLX152", "MLX154",
                               "MLX164", "MLX169",
                               "MLX121"}),  # a load's error caught: a resume from scratch
    "no_update": frozenset({"MLX272", "MLX266", "MLX265",
                            "MLX238", "MLX227", "MLX226", "MLX218", "MLX217", "MLX216", "MLX211",
                            "MLX209",
                            "MLX206",
                            "MLX192",
                            "MLX102",
                            "MLX188", "MLX187", "MLX185", "MLX003", "MLX006", "MLX016", "MLX019",
                            "MLX021", "MLX029",
                            "MLX033", "MLX034", "MLX036", "MLX046", "MLX048", "MLX054",
                            "MLX056", "MLX058", "MLX064", "MLX065", "MLX069",
                            "MLX070", "MLX071", "MLX076", "MLX080", "MLX088", "MLX177",
                            "MLX091", "MLX092", "MLX093", "MLX095", "MLX096",
                            "MLX097", "MLX106", "MLX108", "MLX109", "MLX112",
                            "MLX117", "MLX125", "MLX129", "MLX145", "MLX159",
                            "MLX166"}),
}
FRAME = re.compile(r'File "([^"]+)", line (\d+)')
MAX_FILES = 50
MAX_BYTES = 2_000_000


def foreign_roots() -> list[Path]:
    """Folders whose files are not the program's own: installed packages and the stdlib."""
    paths = sysconfig.get_paths()
    roots = {paths.get(k) for k in ("purelib", "platlib", "stdlib", "platstdlib")}
    roots |= {p for p in sys.path if p.endswith(("site-packages", "dist-packages"))}
    roots.add(str(Path(__file__).resolve().parent.parent))  # mlxprobe itself
    return [Path(r).resolve() for r in roots if r]


def own(path: Path, roots: list[Path]) -> bool:
    parts = set(path.parts)
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    return not any(path.is_relative_to(r) for r in roots)


def program_files(argv: list[str], stacks: str, cwd: Path) -> list[Path]:
    """The main script (the first `*.py` argument) and the files of the Python stacks."""
    named = [a for a in argv[1:] if a.endswith(".py")][:1]
    named += [m.group(1) for m in FRAME.finditer(stacks or "")]
    roots, found = foreign_roots(), []
    for name in named:
        path = (cwd / name).resolve()
        if path not in found and path.is_file() and own(path, roots):
            found.append(path)
    return found[:MAX_FILES]


Located = tuple[Finding, str]  # a finding and its flagged line's text (`code_of`)


def findings_in(files: list[Path]) -> list[Located]:
    """Each file's findings, with the flagged line read from the text linted (once)."""
    out: list[Located] = []
    for path in files:
        try:
            if path.stat().st_size <= MAX_BYTES:
                text = path.read_text(encoding="utf-8")
                found, lines = lint_source(text, str(path)), text.splitlines()
                out += [(f, code_of(lines, f.line)) for f in found]
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue  # the program's own problem; the verdict already says what happened
    return out


def as_dict(located: Located, cwd: Path) -> dict:
    f, code = located
    info = RULES[f.rule]
    try:
        shown = str(Path(f.path).relative_to(cwd))
    except ValueError:
        shown = f.path
    return {"rule": f.rule, "path": shown, "line": f.line, "col": f.col + 1,
            "code": code,
            "message": f.message, "fix": info.fix, "why": info.why, "source": info.source}


CODE_WIDTH = 120  # characters of the flagged line quoted in a hint


def code_of(lines: list[str], line: int) -> str:
    """The flagged line's text, stripped and cut to CODE_WIDTH."""
    code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return code if len(code) <= CODE_WIDTH else code[:CODE_WIDTH - 3] + "..."


def joined(kind: str, found: list[Located], cwd: Path) -> dict:
    """{"explains": [...], "other": [...]} for a verdict class."""
    related = EXPLAINS.get(kind, frozenset())
    return {"explains": [as_dict(f, cwd) for f in found if f[0].rule in related],
            "other": [as_dict(f, cwd) for f in found if f[0].rule not in related]}


def hint_line(finding: dict) -> str:
    code = f" (`{finding['code']}`)" if finding.get("code") else ""
    return (f"lint {finding['rule']} at {finding['path']}:{finding['line']}{code}: "
            f"{finding['message']}; fix: {finding['fix']}")


def attach(entry: dict, argv: list[str], stacks: str, cwd: Path | None = None) -> dict:
    """Add `lint` to a report entry with a verdict; a finding that explains a failure goes
    first in the hint, a pass's findings only to `lint.unshown`. Returns the entry."""
    if entry.get("verdict") is None:
        return entry
    cwd = cwd or Path.cwd()
    found = findings_in(program_files(argv, stacks, cwd))
    if not found:
        return entry
    if entry["verdict"] == "pass":
        entry["lint"] = {"unshown": [as_dict(f, cwd) for f in found]}
        return entry
    entry["lint"] = joined(entry["verdict"], found, cwd)
    lines = [hint_line(f) for f in entry["lint"]["explains"]]
    if lines:
        entry["hint"] = "\n".join([*lines, entry.get("hint") or ""]).strip()
    return entry
