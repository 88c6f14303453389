"""What mlxprobe costs and how fast it sees a hang, against the alternatives (issue 7).

    python benchmarks/run.py                       # all six, ~20 min on 2 cores
    python benchmarks/run.py --only latency        # one (repeatable): latency, overhead,
                                                   # sampler, catalogue, leak, watch, longrun
    python benchmarks/run.py --only longrun        # issue 10: 10^4..10^7 heartbeats (~15 min)
    python benchmarks/run.py --quick               # fewer repetitions (a smoke run)
    python benchmarks/run.py --wait-quiet 1500     # first wait up to 25 min for load < 0.8
    python benchmarks/run.py --markdown out.md --json out.json

Prints the machine, one table per benchmark (medians with spread, each ratio measured side
by side in the same run) and the targets, met or not. It asserts nothing: speed is printed,
never tested (the machine is shared and noisy). Record a real run in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import bench_catalogue
import bench_latency
import bench_leak
import bench_longrun
import bench_overhead
import bench_sampler
import bench_watch
from bench_common import (
    Section,
    load1,
    machine,
    machine_text,
    section_text,
    targets_text,
    wait_for_quiet,
)

BENCHES = {"latency": bench_latency, "overhead": bench_overhead, "sampler": bench_sampler,
           "catalogue": bench_catalogue, "leak": bench_leak, "watch": bench_watch,
           "longrun": bench_longrun}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(BENCHES),
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                        help="wait up to S seconds for the 1-minute load to drop below "
                        "--quiet-load before measuring (default: do not wait)")
    parser.add_argument("--quiet-load", type=float, default=0.8, metavar="L")
    parser.add_argument("--jobs", default="1,2,4,2-rebuild", metavar="LIST",
                        help="catalogue: the --jobs values compared; J-rebuild is --jobs J "
                        "without the corpus cache (default 1,2,4,2-rebuild)")
    parser.add_argument("--catalogue-rounds", type=int, default=2, metavar="N",
                        help="catalogue: rounds of each --jobs value, interleaved")
    parser.add_argument("--fp-runs", type=int, default=0, metavar="N",
                        help="leak: also run every fixed variant N more times for the "
                        "false-positive rate (slow: ~15 s a round, --jobs 2 on 2 cores)")
    parser.add_argument("--stability-out", type=Path, default=bench_leak.STABILITY_OUT,
                        help="leak: also count false positives in benchmarks/stability.py's "
                        "stored rounds found here")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="also write Markdown")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers")
    return parser.parse_args(argv)


def run_one(name: str, args: argparse.Namespace, shared: dict) -> Section:
    print(f"-- running {name} ...", flush=True)
    before, started = load1(), time.monotonic()
    section = BENCHES[name].run(args) if name != "leak" else bench_leak.run(args, shared)
    section.load = (before, load1())
    section.seconds = time.monotonic() - started
    if name == "catalogue":  # the reports feed the leak false-positive count, not --json
        shared["catalogue_reports"] = section.raw.pop("reports", [])
    print(section_text(section), flush=True)
    return section


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    facts = machine()
    quiet = wait_for_quiet(args.wait_quiet, args.quiet_load) if args.wait_quiet else None
    print(machine_text(facts, quiet), flush=True)
    shared: dict = {}
    sections = [run_one(name, args, shared) for name in BENCHES
                if not args.only or name in args.only]
    print("== Targets ==\n" + targets_text(sections), flush=True)
    if args.markdown:
        parts = [machine_text(facts, quiet, markdown=True),
                 *(section_text(s, markdown=True) for s in sections),
                 "### Targets\n\n" + targets_text(sections, markdown=True) + "\n"]
        args.markdown.write_text("\n".join(parts))
    if args.json:
        numbers = {"machine": facts, "quiet": quiet,
                   "sections": {s.key: {"load": s.load, "seconds": s.seconds, "raw": s.raw,
                                        "targets": [t.__dict__ for t in s.targets]}
                                for s in sections}}
        args.json.write_text(json.dumps(numbers, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
