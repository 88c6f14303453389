"""JUnit XML of a comparison, for CI systems that show test results (`compare --junit PATH`).

Job: one testsuite, one testcase per scenario variant (classname = scenario id, name =
variant); a regression (a variant missing from HEAD too) is a <failure> whose message says
what changed; a variant left out on purpose (`--allow-missing`) is <skipped>; anything else
worth a look (a fix, a change as expected, an unconfirmed slow-down) goes to <system-out>.
A problem with the reports themselves (a partial one, nothing matched on either side) is one
more failing testcase each (classname `mlxprobe`, name `reports`).

Must not import: mlx, the runner.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..gating.comparison import Comparison, VariantChange
from .changes import explain, sides


def render(comparison: Comparison, suite: str = "mlxprobe compare") -> str:
    root = ET.Element("testsuites")
    cases = [_case(c, comparison.alpha) for c in comparison.changes]
    cases += [_problem(p) for p in comparison.problems]
    failures = sum(1 for c in comparison.changes if c.regressed) + len(comparison.problems)
    skipped = sum(1 for c in comparison.changes if c.status in ("left out", "skipped"))
    node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)),
                         failures=str(failures), errors="0", skipped=str(skipped))
    properties = ET.SubElement(node, "properties")
    ET.SubElement(properties, "property", name="sides", value=sides(comparison))
    for warning in comparison.warnings:
        ET.SubElement(properties, "property", name="warning", value=warning)
    node.extend(cases)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _case(change: VariantChange, alpha: float) -> ET.Element:
    case = ET.Element("testcase", classname=change.scenario, name=change.variant)
    text = explain(change, alpha)
    if change.regressed:
        failure = ET.SubElement(case, "failure", message=f"{change.kind}: {text}"[:1000],
                                type=change.kind)
        failure.text = f"BASE {change.base}\nHEAD {change.head}\n{text}"
    elif change.status in ("left out", "skipped"):
        ET.SubElement(case, "skipped", message=text)
    elif text:
        ET.SubElement(case, "system-out").text = f"{change.kind}: {text}"
    return case


def _problem(problem: str) -> ET.Element:
    case = ET.Element("testcase", classname="mlxprobe", name="reports")
    ET.SubElement(case, "failure", message=problem[:1000], type="reports").text = problem
    return case
