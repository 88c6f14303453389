"""The ranks of a distributed job, judged from their stamped records and per-rank facts.

Job: pure functions the verdict applies when records carry a rank: each rank's last step,
its collectives per step (the first step where the ranks' counts differ names the culprit,
as PyTorch's Flight Recorder does with per-rank sequence numbers), whether it was inside an
evaluation at the stall and since when, its CPU by thread (a waiting main thread beside a
polling communication thread is waiting, not computing), and which rank failed when the
launcher (`mlx.launch` exits 0 whatever its ranks did) says nothing.

Must not import: mlx, psutil, the watching side's runner, reporters.
"""

from __future__ import annotations

import re
from collections import Counter

from ..protocol import COLLECTIVE, EVAL_OPEN
from ..watching.facts import RawResult

BUSY_MAIN_CORES = 0.5  # a rank's main thread computing, as verdict.BUSY_CORES for a process
POLLING_CORES = 0.05  # another thread at least this busy beside an idle main thread: polling
STACK_CHARS = 3000  # per rank and kind of stack, in the evidence
NODE_EXIT = re.compile(r"Node with rank (?P<rank>\d+) exited with code (?P<code>-?\d+)")


def by_rank(raw: RawResult) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for record in raw.records:
        rank = record.get("rank")
        if isinstance(rank, int) and not isinstance(rank, bool):
            out.setdefault(rank, []).append(record)
    return out


def distributed(raw: RawResult) -> bool:
    return len(by_rank(raw)) > 1 or bool(raw.ranks)


def last_steps(raw: RawResult) -> dict[int, int]:
    """rank -> its last step (0 before the first), from its best step source."""
    out = {}
    for rank, records in by_rank(raw).items():
        steps = RawResult(records=records).steps
        out[rank] = int(steps[-1].get("step", len(steps))) if steps else 0
    return out


def collectives(raw: RawResult) -> dict[int, list[dict]]:
    """rank -> its collective records in sequence order."""
    return {rank: sorted((r for r in records if r.get("kind") == COLLECTIVE),
                         key=lambda r: int(r.get("seq", 0)))
            for rank, records in by_rank(raw).items()}


def mismatch(raw: RawResult) -> dict | None:
    """The first step, among those every rank finished, whose collective counts differ
    across ranks: who skipped (or added) how many, and the first sequence number whose
    collectives were issued at different steps (what the backend paired). None if none."""
    issued = collectives(raw)
    if len(issued) < 2 or not any(issued.values()):
        return None
    done = last_steps(raw)
    upto = min(done.get(rank, 0) for rank in issued)
    for records in issued.values():
        if records and records[-1].get("capped"):
            upto = min(upto, int(records[-1].get("step", 0)) - 1)
    counts = {rank: Counter(int(r.get("step", 0)) for r in records)
              for rank, records in issued.items()}
    for step in range(1, upto + 1):
        at = {rank: counts[rank].get(step, 0) for rank in sorted(counts)}
        if len(set(at.values())) > 1:
            return _found(step, at, issued, done)
    return None


def _found(step: int, at: dict[int, int], issued: dict[int, list[dict]],
           done: dict[int, int]) -> dict:
    usual = Counter(at.values()).most_common(1)[0][0]
    if list(at.values()).count(usual) * 2 <= len(at):  # no majority (2 ranks): fewer is odd
        usual = max(at.values())
    culprits = [rank for rank, n in at.items() if n != usual]
    upto = min(done.get(r, 0) for r in issued)
    within = {rank: sum(1 for r in records if int(r.get("step", 0)) <= upto)
              for rank, records in issued.items()}
    usual_rank = next(rank for rank, n in at.items() if n == usual)
    where = [r.get("where") for r in issued[usual_rank] if int(r.get("step", 0)) == step]
    return {"step": step, "counts_at_step": at, "culprits": culprits, "usual": usual,
            "issued_at": {"rank": usual_rank, "where": [w for w in where if w][:3]},
            "compared_steps": upto, "issued": within,
            "issued_in_all": {rank: len(records) for rank, records in issued.items()},
            "steps": {r: done.get(r, 0) for r in issued}, "paired": _pairing(issued)}


def _pairing(issued: dict[int, list[dict]]) -> dict | None:
    """The first sequence number issued by every rank at different steps."""
    ranks = sorted(issued)
    for i in range(min(len(issued[r]) for r in ranks)):
        steps = {r: int(issued[r][i].get("step", 0)) for r in ranks}
        if len(set(steps.values())) > 1:
            return {"seq": i + 1, "steps": steps}
    return None


def mismatch_text(found: dict) -> str:
    """'rank 1 issued 4 collectives in 5 steps, rank 0 issued 5: rank 1 skipped one at
    step 3; from then on their collectives paired different steps'."""
    issued, upto, usual = found["issued"], found["compared_steps"], found["usual"]
    parts = [f"rank {r} issued {issued[r]} collectives in {upto} steps"
             if i == 0 else f"rank {r} issued {issued[r]}"
             for i, r in enumerate(sorted(issued, key=lambda r: r not in found["culprits"]))]
    acts = []
    for rank in found["culprits"]:
        n = found["counts_at_step"][rank]
        diff = usual - n
        what = (f"skipped {_count(diff)}" if diff > 0 else f"issued {_count(-diff)} extra")
        acts.append(f"rank {rank} {what} at step {found['step']}")
    other = found.get("issued_at") or {}
    if other.get("where") and any(found["counts_at_step"][r] < usual for r in found["culprits"]):
        acts[-1] += (f" (rank {other['rank']} issued it at "
                     f"{', '.join(_short(w) for w in other['where'])})")
    text = f"{', '.join(parts)}: {'; '.join(acts)}"
    if found.get("paired"):
        text += "; from then on their collectives paired different steps"
    return text


def _count(n: int) -> str:
    return "one" if n == 1 else str(n)


def open_eval(records: list[dict], at: float | None) -> dict | None:
    """The evaluation a rank was inside at wall time `at` (its last `eval_open` record with
    no step after it): since when, from where."""
    last_step_time = max((float(r.get("time", 0.0)) for r in records
                          if r.get("kind") in ("step", "progress")), default=0.0)
    opened = [r for r in records if r.get("kind") == EVAL_OPEN]
    if not opened or float(opened[-1].get("since", 0.0)) < last_step_time:
        return None
    since = float(opened[-1].get("since", 0.0))
    return {"since_s": round(at - since, 1) if at else None, "where": opened[-1].get("where")}


def main_thread(facts: dict) -> dict:
    """The CPU split of one rank: its main thread's cores, the busiest other thread's."""
    rows = facts.get("threads") or []
    main = next((t for t in rows if t.get("main")), None)
    others = [t for t in rows if not t.get("main")]
    busiest = max(others, key=lambda t: t.get("cores", 0.0), default=None)
    out: dict = {"main_cores": main.get("cores") if main else None}
    if busiest is not None:
        out["busiest_other"] = {k: busiest.get(k) for k in ("tid", "name", "cores")}
    return out


def waiting_beside_poller(split: dict) -> bool:
    main, other = split.get("main_cores"), split.get("busiest_other") or {}
    return (main is not None and main < BUSY_MAIN_CORES
            and float(other.get("cores") or 0.0) >= POLLING_CORES)


def rank_summary(raw: RawResult) -> dict[int, dict]:
    """rank -> what the evidence shows of it: last step, collectives, evaluation, CPU split,
    stacks (at a stall), error."""
    steps, issued = last_steps(raw), collectives(raw)
    facts = {f["rank"]: f for f in raw.ranks}
    out = {}
    for rank, records in sorted(by_rank(raw).items()):
        info: dict = {"last_step": steps.get(rank, 0), "collectives": len(issued.get(rank, []))}
        errors = [r for r in records if r.get("kind") == "error"]
        if errors:
            info["error"] = f"{errors[0].get('type')}: {str(errors[0].get('message'))[:300]}"
        fact = facts.get(rank)
        if fact is not None:
            info.update(_stalled(records, fact))
        out[rank] = info
    return out


def _stalled(records: list[dict], fact: dict) -> dict:
    info: dict = {"pid": fact.get("pid"), "alive": fact.get("alive")}
    if not fact.get("alive"):
        return info
    info["in_eval"] = open_eval(records, fact.get("at"))
    info["cpu"] = main_thread(fact)
    info["python_stack"] = str(fact.get("python_stack", ""))[-STACK_CHARS:]
    info["native_stack"] = str(fact.get("native_stack", ""))[:STACK_CHARS]
    return info


def rank_line(rank: int, info: dict) -> str:
    """One sentence per rank for a stall's reason."""
    text = f"rank {rank} (last step {info['last_step']}, {info['collectives']} collectives)"
    if "alive" in info and not info["alive"]:
        return f"{text} had ended"
    opened = info.get("in_eval")
    where = (f"is blocked in an evaluation since {opened['since_s']} s at "
             f"{_short(opened.get('where'))}" if opened else "is not in any evaluation")
    split = info.get("cpu") or {}
    if waiting_beside_poller(split):
        other = split["busiest_other"]
        where += (f"; its main thread waits ({split['main_cores']:.2f} cores) beside thread "
                  f"{other.get('tid')} polling at {float(other.get('cores') or 0):.2f} cores")
    elif split.get("main_cores") is not None:
        where += f"; main thread at {split['main_cores']:.2f} cores"
    return f"{text} {where}"


def _short(where: object) -> str:
    text = str(where or "?")
    return text.rsplit("/", 1)[-1]


def main_busy(raw: RawResult) -> bool | None:
    """Whether any live rank's main thread was computing at the stall; None without facts."""
    cores = [main_thread(f).get("main_cores") for f in raw.ranks if f.get("alive")]
    cores = [c for c in cores if c is not None]
    return max(cores) >= BUSY_MAIN_CORES if cores else None


def finished_early(raw: RawResult) -> str:
    """Which ranks had finished their loop (an end record) while another still ran, or ""."""
    steps = last_steps(raw)
    done = sorted(rank for rank, records in by_rank(raw).items()
                  if any(r.get("kind") == "end" for r in records))
    if not done or len(done) == len(steps):
        return ""
    said = ", ".join(f"rank {r} after step {steps.get(r, 0)}" for r in done)
    others = ", ".join(f"rank {r} at step {n}" for r, n in sorted(steps.items())
                       if r not in done)
    return f"finished first: {said} (its peers still issued collectives: {others})"


def failed_nodes(stderr: str) -> dict[int, int]:
    """rank -> exit code, from `mlx.launch`'s own warnings (it exits 0 itself)."""
    return {int(m["rank"]): int(m["code"]) for m in NODE_EXIT.finditer(stderr)}


def orphaned(raw: RawResult) -> dict | None:
    """A rank that ended (its loop finished, it raised, or its process was gone) while a
    peer had issued a collective it never joined, and that peer then failed (raised, or
    stalled): who ended, how, after which step and how many collectives, and the first
    collective the peer waited in alone. The same facts on every backend: the ring backend
    makes the waiting rank raise, NCCL leaves it waiting. None otherwise."""
    issued = collectives(raw)
    if len(issued) < 2 or any(r and r[-1].get("capped") for r in issued.values()):
        return None
    most = max(len(r) for r in issued.values())
    ended = {rank: how for rank in issued if len(issued[rank]) < most
             and (how := _ended(raw, rank))}
    waiting = [rank for rank in issued if len(issued[rank]) == most and _failed(raw, rank)]
    if not ended or not waiting:
        return None
    rank = min(ended, key=lambda r: len(issued[r]))
    peer = waiting[0]
    alone = issued[peer][len(issued[rank])]
    return {"ended_rank": rank, "how": ended[rank], "exit_code": _root_exit(raw, rank),
            "last_step": last_steps(raw).get(rank, 0),
            "collectives": len(issued[rank]), "waiting_rank": peer,
            "collective": {k: alone.get(k) for k in ("seq", "op", "step", "where")},
            "peer": _peer_state(raw, peer)}


def _root_exit(raw: RawResult, rank: int) -> int | None:
    """The launcher's exit code for `rank` when that exit is the cause. A rank that had
    finished its loop and was then killed was still shutting down when the launcher tore
    the job down after its peer failed (measured under load: "Node with rank 1 exited with
    code -15" after rank 1's end record): that signal is the teardown's, not the fault."""
    code = failed_nodes(raw.stderr_tail).get(rank)
    finished = any(r.get("kind") == "end" for r in by_rank(raw).get(rank, []))
    return None if finished and code is not None and code < 0 else code


def _ended(raw: RawResult, rank: int) -> str:
    """How `rank` ended ('' while it still ran): its loop finished, it raised, the launcher
    saw its process exit, or it was gone when the job stalled."""
    records = by_rank(raw).get(rank, [])
    error = next((r for r in records if r.get("kind") == "error"), None)
    if error is not None:
        return f"raised {error.get('type')}: {str(error.get('message'))[:200]}"
    if any(r.get("kind") == "end" for r in records):
        return "finished its loop"
    code = failed_nodes(raw.stderr_tail).get(rank)
    if code is not None:
        return f"exited with code {code}"
    fact = next((f for f in raw.ranks if f.get("rank") == rank), None)
    return "had ended" if fact is not None and not fact.get("alive") else ""


def _failed(raw: RawResult, rank: int) -> bool:
    records = by_rank(raw).get(rank, [])
    return raw.stall is not None or any(r.get("kind") == "error" for r in records)


def _peer_state(raw: RawResult, rank: int) -> str:
    records = by_rank(raw).get(rank, [])
    error = next((r for r in records if r.get("kind") == "error"), None)
    if error is not None:
        return f"raised {error.get('type')}: {str(error.get('message'))[:200]}"
    fact = next((f for f in raw.ranks if f.get("rank") == rank), {})
    opened = open_eval(records, fact.get("at"))
    stalled = f" for {raw.stall.stalled_s:.1f} s" if raw.stall is not None else ""
    if opened:
        return (f"waited in an evaluation at {_short(opened.get('where'))}{stalled} until "
                "mlxprobe ended it")
    return f"stopped sending heartbeats{stalled} until mlxprobe ended it"


def orphan_text(found: dict) -> str:
    """'rank 1 finished its loop after step 30 having issued 30 collectives; rank 0 issued
    collective #31 (all_sum at step 31, _data_parallel.py:66), which rank 1 never joined,
    and raised RuntimeError: ...'."""
    alone = found["collective"]
    return (f"rank {found['ended_rank']} {found['how']} after step {found['last_step']} "
            f"having issued {found['collectives']} collectives; rank {found['waiting_rank']} "
            f"issued collective #{alone.get('seq')} ({alone.get('op')} at step "
            f"{alone.get('step')}, {_short(alone.get('where'))}), which rank "
            f"{found['ended_rank']} never joined, and {found['peer']}")
