"""JUnit XML of a comparison, for CI systems that show test results (`compare --junit PATH`).

Job: one testsuite, one testcase per scenario variant (classname = scenario id, name =
variant); a regression is a <failure> whose message says what changed; a variant missing from
HEAD is <skipped>; anything else worth a look (a fix, an unconfirmed slow-down) goes to
<system-out>.

Must not import: mlx, the runner.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..gating.comparison import Comparison, VariantChange
from .changes import explain, sides


def render(comparison: Comparison, suite: str = "mlxprobe compare") -> str:
    root = ET.Element("testsuites")
    cases = [_case(c, comparison.alpha) for c in comparison.changes]
    failures = sum(1 for c in comparison.changes if c.regressed)
    skipped = sum(1 for c in comparison.changes if c.status == "missing")
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
    elif change.status == "missing":
        ET.SubElement(case, "skipped", message="not run in HEAD")
    elif text:
        ET.SubElement(case, "system-out").text = f"{change.kind}: {text}"
    return case
