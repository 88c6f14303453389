"""Parameter movement, read inside a watched program from what the program itself evaluated.

Job: remember the models the program trains (the `model` handed to `Optimizer.update`, a
module whose own `update` the program calls), and right after one of the program's own
outermost `mx.eval` calls, at most once per LOOK_EVERY_S, read a strided sample of each
trainable parameter that this very eval just evaluated, compare it with the last sample,
and write a `params` record: how many parameter groups (a parameter's module path) were
compared, which of them did not change at all since the last look, and which hold a
non-finite value, which float32 weight matrices did not change while another parameter
of their own module did (`stuck`), and for bfloat16/float16 weight matrices the median
share of sampled values still bit-identical to the first look (`low_same_share`), the
groups holding a weight matrix whose sample is all zero (`zero_groups`), and the largest
sampled magnitude of a float32 parameter with its group (`peak_abs`, `peak_group`: a weight
held at an optimizer's equilibrium, `judging/capped.py`), and how many of the vectors (1-D
leaves: biases, gains) and of the matrices compared changed (`vectors`, `matrices`: [moved,
compared]; an update that handles only matrices leaves every vector still), and how many groups
moved other than by one common shrink of their values (`moved`; `shrunk` names those that changed
by one alone: weight decay with a zero gradient, SHRINK_SPREAD), and of the groups unchanged,
those holding only vectors that are all zero (`blank`), those that changed at an earlier
look (`moved_before`) and those in the top layer of an indexed stack whose namesake in a lower
layer changed (`top_only`); the first look
also counts, from shapes and dtypes only, the weight matrices that train and
those that are frozen (quantized ones hold integers). The judges (`judging/params.py`,
`judging/rounding.py`) decide from a run of such looks.

The observer must not change the observed: only arrays passed to the eval that just
returned are read (their memory holds values already; reading it computes nothing), through
the buffer protocol (`memoryview`), never by slicing or converting an MLX array (that would
add work to the graph or evaluate a lazy array). Arrays the program did not evaluate are
skipped. A module is a dict of its children, so `mx.eval(model.parameters(), ...)`,
`mx.eval(model, ...)` and mlx-lm's `mx.eval(state, ...)` all count.

Cost: one look walks the eval's arguments, the models' modules (to find lookup tables) and
trainable parameters, and reads SAMPLE values of each of at most MAX_LEAVES leaves
(SAMPLE_TABLE of a lookup table's weight; measured ~1.4 us a leaf for the read);
looks are at least LOOK_EVERY_S apart and the wait after a look is at least 1/COST_SHARE
times what it cost, so looking never takes more than 0.5% of the program's time.

Written by hand: nothing else reads MLX memory without evaluating. May import: the standard
library, `recorder`, `anatomy`. Must not import: mlx (it works on the objects handed to it), the
watching side.
"""

from __future__ import annotations

import math
import re
import struct
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..protocol import PARAMS
from . import anatomy
from .recorder import Probe

LOOK_EVERY_S = 0.25  # at most four looks a second: a fast loop pays ~nothing per step, and
# a run that trains for 1.5 s still gets 5 looks (at 0.5 s a 600-step cosine run got 2)
COST_SHARE = 0.005  # and never more than 0.5% of the time: the next look waits 200x its cost
SAMPLE = 32  # values read per parameter (evenly strided over it)
# values read from a lookup table's weight (an `nn.Embedding`): a step changes only the rows
# of the ids its batch holds, so 32 values of a 20k-row table of which the data uses 400 rows
# miss every one of them about half the time (fresh6 `correct_sparse_vocab_rows`: a false
# `no_update:part`); 1024 rows miss them with p ~ 1e-9, and 0.7% of a 150k vocabulary with
# p ~ 0.001
SAMPLE_TABLE = 1024
# a float32 leaf whose sampled values all changed by one common factor below 1, the factors'
# spread within SHRINK_SPREAD of the shrink itself, changed by weight decay alone: AdamW's
# `p * (1 - lr * wd)` (and SGD's `g + wd * p`) with a zero gradient; a gradient step moves each
# value by its own amount (Adam: ~lr whatever the value), so its factors spread by far more
SHRINK_SPREAD = 0.05
SHRINK_MIN = 4  # non-zero values a shrink is read from
# a shrink in float32's rounding regime (`rounded_shrink`): each value toward zero by less
# than 1e-3 of itself (AdamW's lr * wd at 2e-3 * 1e-4 is 2e-7 a step, 5e-5 over 256 steps
# between looks; a gradient step under Adam moves values by ~lr both ways), the largest
# within 4x of the median (measured on 64 values of N(0, 0.1) shrunk 1 to 256 times by
# 1 - 2e-7 in float32, three seeds: max / median 1.19-1.23)
ROUNDING_SHRINK = 1e-3
ROUNDING_SPREAD = 4.0
MAX_LEAVES = 4096  # parameters compared per look (a 7B model has ~300)
MAX_MODELS = 4
MAX_NAMES = 32  # group names written per record
WALK_LIMIT = 200_000  # objects visited in an eval's arguments


class ParamWatch:
    """The looks of one process (see the module's docstring)."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.models: list[weakref.ref] = []
        self.last: dict[str, bytes] = {}
        self.first: dict[str, bytes] = {}  # low-precision weight matrices: the first sample
        self.looks = 0
        self.next_at = 0.0
        self.stepped: set[int] = set()  # ids of the models an optimizer stepped
        self.recent: set[int] = set()  # ... of those stepped since the last look
        self.touched: set[int] = set()  # ... of those seen updating themselves, since it
        self.censused = False
        self.shape = 0  # a hash of the trainable parameters' paths at the last look
        self.updates_at_shape = 0  # the optimizer updates counted when that set last changed
        self.tables: dict[int, set[str]] = {}  # a model's lookup-table paths, per shape
        self.outer: tuple[tuple[int, ...], set[int]] = ((), set())  # `_outermost`'s last
        self.moved_ever: set[str] = set()  # groups that changed, not by a shrink, at a look

    def saw_model(self, model: Any, stepped: bool = False) -> None:
        """A module the program trains (cheap: called on every update). One an optimizer
        stepped (`stepped`) takes the place of one only seen updating itself, and the one
        stepped last comes first (a teacher trained, then frozen, and a student trained
        after it: the census judges the student; `nn.value_and_grad` updates the student
        itself before its optimizer steps it, fresh2 `correct_distillation`)."""
        if not hasattr(model, "trainable_parameters"):
            return
        if stepped:
            self.stepped.add(id(model))
            self.recent.add(id(model))
        else:
            self.touched.add(id(model))
        at = next((i for i, ref in enumerate(self.models) if ref() is model), None)
        if at is not None:
            if stepped and at:  # by position: a weakref's == compares the modules' arrays
                self.models.insert(0, self.models.pop(at))
            return
        if len(self.models) >= MAX_MODELS:
            if not stepped:
                return
            self.models.pop()
        try:
            ref = weakref.ref(model)
        except TypeError:
            return
        self.models.insert(0, ref) if stepped else self.models.append(ref)

    def after_eval(self, args: tuple, kwargs: dict, step: int, updates: int = 0) -> None:
        """Called right after the program's outermost eval returned (`updates`: optimizer
        updates so far)."""
        now = time.monotonic()
        if not self.models:
            return
        if now < self.next_at:
            self._census_due(step, updates)
            return
        started = time.perf_counter()
        evaluated = _array_ids((args, tuple(kwargs.values())))
        record = self._look(evaluated)
        self._reshaped(record.pop("shape"), updates)
        if self.looks == 1 or (updates > self.updates_at_shape and not self.censused):
            # what trains and what is frozen (shapes only): at the first look, and again at
            # the first look after an optimizer update (a model frozen after its first
            # eval, as a LoRA set-up does, is counted as it trains), and after the first
            # update once the set of trainable parameters changed (adapters attached and
            # a freeze for a second stage; a model frozen at the end, never stepped
            # again, keeps the census it trained under)
            self.censused = updates > self.updates_at_shape
            record["census"] = self._census()
        self.recent.clear()
        self.touched.clear()
        cost = time.perf_counter() - started
        self.next_at = time.monotonic() + max(LOOK_EVERY_S, cost / COST_SHARE)
        if record["leaves"] or "census" in record:
            record["cost_us"] = round(cost * 1e6, 1)
            self.probe.emit(PARAMS, step=step, updates=updates, **record)

    def _census_due(self, step: int, updates: int) -> None:
        """Between looks: the census a stage change asked for, as soon as an update ran on
        the new trainable set (a second stage of a few fast steps may see no other look;
        a census walks shapes only, once per change)."""
        if not self.censused and updates > self.updates_at_shape > 0:
            self.censused = True
            self.probe.emit(PARAMS, step=step, updates=updates, leaves=0, compared=0,
                            census=self._census())

    def trainables_changed(self, updates: int) -> None:
        """The program froze or unfroze something: once the census after the first update
        was taken, ask for another once an update ran on the new set."""
        if self.censused:
            self.censused, self.updates_at_shape = False, updates

    def _reshaped(self, shape: int, updates: int) -> None:
        """A look that sees a new set of trainable parameters (adapters attached without a
        freeze) counts as a change of it."""
        if shape != self.shape and self.looks > 1:
            self.trainables_changed(updates)
        if shape != self.shape:
            self.tables.clear()
        self.shape = shape

    def _look(self, evaluated: set[int]) -> dict:
        tally, seen, paths = LookTally(), 0, []
        for path, leaf, table in self._leaves():
            paths.append(path)
            if id(leaf) not in evaluated or seen >= MAX_LEAVES:
                continue
            seen += 1
            sample, finite = read_sample(leaf, SAMPLE_TABLE if table else SAMPLE)
            if sample is None:
                continue
            before = self.last.get(path)
            self.last[path] = sample
            first = self.first.setdefault(path, sample) if _low_matrix(leaf) else None
            tally.add(path, leaf, (before, sample, first), finite)
        self.looks += 1
        return {**tally.record(seen, self.looks, self.moved_ever), "shape": hash(tuple(paths))}

    def _census(self) -> list[dict]:
        return [census(m) for m in self._trained()]

    def _trained(self) -> list[Any]:
        """The live models an optimizer stepped since the last look, else those it stepped
        at all (a validation pass between looks); every model seen updating itself when none
        was stepped (a loop that updates by hand). A model trained in an earlier stage and
        still alive is not compared while another trains (fresh43 `adapter_resume_name_ok`:
        session 1's LoRA model, kept alive, read as a part that never changed); nor one
        stepped earlier and now frozen whole, while another updates itself (fresh300
        `orchard_graft_cider_moe_ok`: a teacher trained by AdamW, then frozen, and its
        quantized copy's scales fitted by `q_model.update(params)` inside the loss and
        `apply_gradients` on a dict, mlx-lm's DWQ loop: the frozen teacher was censused,
        `no_update:frozen_weights`)."""
        alive = [m for ref in self.models if (m := ref()) is not None]
        stepped = [m for m in alive if id(m) in self.stepped]
        if self.touched and not any(_trains(m) for m in stepped):
            stepped = [m for m in alive if id(m) in self.touched] or stepped
        return self._outermost([m for m in alive if id(m) in self.recent] or stepped or alive)

    def _outermost(self, models: list[Any]) -> list[Any]:
        """The models none of the others holds: a submodule the program updates by itself
        (a frozen filter bank cast with `model.front.update(...)`) is part of the model it
        belongs to, not a second trained model (fresh74 `spindle_conv_fp16_master`, whose
        hand-written mixed-precision loop steps no module with an optimizer: the frozen
        front Conv1d, seen first, was censused as the trained model, `no_update:frozen_
        weights`). Which of them is inside which is walked once per set of models (by id:
        no model is kept alive here)."""
        if len(models) < 2:
            return models
        key = tuple(id(m) for m in models)
        if key != self.outer[0]:
            self.outer = (key, {id(m) for m in models if not any(
                other is not m and _holds(other, m) for other in models)})
        return [m for m in models if id(m) in self.outer[1]]

    def _tables_of(self, model: Any) -> set[str]:
        """`lookup_tables(model)`, walked once until the trainable paths change
        (`_reshaped` clears them): a large model's modules cost more to walk than its
        leaves to read."""
        if id(model) not in self.tables:
            self.tables[id(model)] = lookup_tables(model)
        return self.tables[id(model)]

    def _leaves(self) -> Iterator[tuple[str, Any, bool]]:
        """The trainable leaves of the trained models (`_trained`), each path prefixed with
        its model's class, numbered when two share one, and whether it is a lookup table's."""
        alive = self._trained()
        names = [type(m).__name__ for m in alive]
        for i, model in enumerate(alive):
            name = names[i] if names.count(names[i]) == 1 else f"{names[i]}#{i + 1}"
            prefix = f"{name}:" if len(alive) > 1 else ""
            tables = self._tables_of(model)
            yield from ((prefix + p, leaf, p.rpartition(".")[0] in tables)
                        for p, leaf in _flat(model.trainable_parameters()))


def _trains(model: Any) -> bool:
    """The model has a trainable parameter (a walk of its modules' names, nothing read)."""
    return any(True for _ in _flat(model.trainable_parameters()))


def _holds(outer: Any, inner: Any) -> bool:
    """`inner` is one of `outer`'s submodules."""
    modules = getattr(outer, "modules", None)
    return callable(modules) and any(sub is inner for sub in modules())


@dataclass
class LookTally:
    """What one look found, leaf by leaf (see the module's docstring)."""

    groups: dict[str, list[bool]] = field(default_factory=dict)  # changed flags per group
    still: list[tuple[str, str]] = field(default_factory=list)  # float32 matrices unchanged
    bad: set[str] = field(default_factory=set)
    moves: list[float | None] = field(default_factory=list)  # float32: relative change
    scales: list[float | None] = field(default_factory=list)  # float32: size now / before
    same: list[float] = field(default_factory=list)  # low precision: share still at first
    zeros: set[str] = field(default_factory=set)  # groups with an all-zero weight matrix
    peak: tuple[float, str] = (0.0, "")  # float32: the largest sampled |value|, its group
    ranks: dict[str, list[int]] = field(default_factory=dict)  # vectors/matrices: moved, seen
    moving: dict[str, bool] = field(default_factory=dict)  # a group changed, not by a shrink
    blank: dict[str, bool] = field(default_factory=dict)  # a group of all-zero vectors only

    def add(self, path: str, leaf: Any, samples: tuple, finite: bool) -> None:
        """One leaf's (previous, current, first-look) samples; the first only for a
        low-precision matrix, the previous None at a leaf's first look."""
        before, sample, first = samples
        group = path.rpartition(".")[0] or path
        if not finite:
            self.bad.add(group)
        if getattr(leaf, "ndim", 0) >= 2 and not any(sample):
            self.zeros.add(group)
        self.blank[group] = self.blank.get(group, True) and getattr(leaf, "ndim", 0) < 2 \
            and not any(sample)
        if first is not None:
            self.same.append(same_share(first, sample))
        if finite and _float32(leaf):
            self.peak = max(self.peak, (_peak(sample), group))
        if before is not None and len(before) == len(sample):
            self.groups.setdefault(group, []).append(before != sample)
            moved = before != sample and not (_float32(leaf) and shrunk(before, sample))
            self.moving[group] = self.moving.get(group, False) or moved
            rank = self.ranks.setdefault(
                "matrices" if getattr(leaf, "ndim", 0) >= 2 else "vectors", [0, 0])
            rank[0] += before != sample
            rank[1] += 1
            move, scale = _change(before, sample, leaf)
            self.moves.append(move)
            self.scales.append(scale)
            if before == sample and _float_matrix(leaf):
                self.still.append((group, path))

    def record(self, seen: int, looks: int, moved_ever: set[str] | None = None) -> dict:
        """This look's record; `moved_ever`: the groups that changed (not by a shrink) at an
        earlier look, to which this look's are added (none known when not given)."""
        zeros = {"zero_groups": sorted(self.zeros)[:MAX_NAMES]} if self.zeros else {}
        peak = {"peak_abs": float(f"{self.peak[0]:.6g}"), "peak_group": self.peak[1]} \
            if self.peak[1] else {}
        shrunk_only = sorted(g for g, flags in self.groups.items()
                             if any(flags) and not self.moving.get(g))
        moved = {"moved": sum(self.moving.values()), "shrunk": shrunk_only[:MAX_NAMES]} \
            if self.groups else {}
        still = sorted(g for g, flags in self.groups.items() if not any(flags))
        top = top_only(self.groups, still)
        return {**_summary(self.groups, still, self.bad, seen, looks), **peak, **moved,
                **({"top_only": top[:MAX_NAMES]} if top else {}),
                **_median("move_median", self.moves), **_median("scale_median", self.scales),
                **_stuck(self.groups, self.still), **_same(self.same), **zeros,
                **self.ranks,
                **self._still_kinds(still, set() if moved_ever is None else moved_ever)}

    def _still_kinds(self, still: list[str], moved_ever: set[str]) -> dict:
        """Of the groups unchanged at this look (`still`), those holding only all-zero
        vectors (`blank`) and those that moved at an earlier look (`moved_before`); absent
        when none. Then this look's moving groups join `moved_ever`."""
        blank = sorted(g for g in still if self.blank.get(g))[:MAX_NAMES]
        before = sorted(g for g in still if g in moved_ever)[:MAX_NAMES]
        moved_ever.update(g for g, moved in self.moving.items() if moved)
        return {**({"blank": blank} if blank else {}),
                **({"moved_before": before} if before else {})}


def census(model: Any) -> dict:
    """How many weight matrices (ndim >= 2) train and how many are frozen (of those, how many
    hold integers: quantized), the trainable values per dtype, the modules under private
    attributes and the LoRA adapters (`anatomy`), from shapes, dtypes and names only
    (metadata: nothing is read)."""
    trainable = {id(leaf) for _, leaf in _flat(model.trainable_parameters())}
    leaves = list(_flat(model.parameters()))
    dtypes: dict[str, int] = {}  # trainable values per dtype
    out = {"model": type(model).__name__, "trainable_matrices": 0, "trainable_values": 0,
           "frozen_matrices": 0, "frozen_quantized": 0, "trainable_dtypes": dtypes,
           "hidden": anatomy.hidden(model), "adapters": anatomy.adapters(leaves, trainable),
           "frozen_names": []}
    for path, leaf in leaves:
        matrix = getattr(leaf, "ndim", 0) >= 2
        if id(leaf) in trainable:
            size = int(getattr(leaf, "size", 0))
            out["trainable_values"] += size
            out["trainable_matrices"] += matrix
            kind = str(getattr(leaf, "dtype", "?")).rpartition(".")[2]
            dtypes[kind] = dtypes.get(kind, 0) + size
        elif matrix:
            out["frozen_matrices"] += 1
            if len(out["frozen_names"]) < anatomy.MAX_NAMES:
                out["frozen_names"].append(path)
            out["frozen_quantized"] += "int" in str(getattr(leaf, "dtype", ""))
    return out


def _change(before: bytes, after: bytes, leaf: Any) -> tuple[float | None, float | None]:
    """(mean |after - before|, mean |after|), each over mean |before|, of a float32 leaf's
    sample: how far it moved and how much it grew; (None, None) for other dtypes, an
    all-zero or a non-finite sample."""
    if not _float32(leaf):
        return None, None
    old, new = memoryview(before).cast("f"), memoryview(after).cast("f")
    scale, now = sum(abs(v) for v in old), sum(abs(v) for v in new)
    moved = sum(abs(a - b) for a, b in zip(new, old))
    if not scale or not math.isfinite(moved + scale + now):
        return None, None
    return moved / scale, now / scale


def shrunk(before: bytes, after: bytes) -> bool:
    """Every sampled value of a float32 leaf multiplied by one common factor below 1 (see
    SHRINK_SPREAD, taken against the smallest shrink seen; or, for a shrink too small for
    that, one of the order of float32's rounding: `rounded_shrink`); zeros stay zero.
    Stops at the first value that breaks it: a gradient step's first two values usually do."""
    low, high, count = math.inf, -math.inf, 0
    for ratio in ratios(before, after):
        if ratio is None:
            return False
        low, high, count = min(low, ratio), max(high, ratio), count + 1
        if not 0.0 < low <= high < 1.0 or high - low > SHRINK_SPREAD * (1.0 - high):
            return rounded_shrink(before, after)
    return count >= SHRINK_MIN


def ratios(before: bytes, after: bytes) -> Iterator[float | None]:
    """after / before of each non-zero sampled float32 value; None where a zero became
    non-zero (no factor makes it), and zeros that stay zero are skipped."""
    for old, new in zip(memoryview(before).cast("f"), memoryview(after).cast("f")):
        if old != 0.0:
            yield new / old
        elif new != 0.0:
            yield None


def rounded_shrink(before: bytes, after: bytes) -> bool:
    """A shrink too small for SHRINK_SPREAD, of the order of float32's rounding: every
    sampled value moved toward zero by less than ROUNDING_SHRINK of itself or stayed (its
    step rounded away), at least SHRINK_MIN moved, and the largest relative shrink is within
    ROUNDING_SPREAD of the median one. AdamW's decay with a zero gradient at lr * wd ~ 1e-7 is
    1-3 float32 spacings a step, each value rounding its own way at each step between two
    looks (fresh374 `velvet_pile_shearing`: lr 2e-3, wd 1e-4, blocks under
    `mx.checkpoint(block)` with a zero gradient read as moved); a gradient step moves values
    both ways."""
    shrinks = []
    for ratio in ratios(before, after):
        if ratio is None or not 1.0 - ROUNDING_SHRINK < ratio <= 1.0:
            return False
        if ratio < 1.0:
            shrinks.append(1.0 - ratio)
    shrinks.sort()
    return len(shrinks) >= SHRINK_MIN and shrinks[-1] <= ROUNDING_SPREAD * shrinks[
        len(shrinks) // 2]


def _peak(sample: bytes) -> float:
    """The largest |value| of a float32 sample."""
    return max((abs(v) for v in memoryview(sample).cast("f")), default=0.0)


def _float_matrix(leaf: Any) -> bool:
    return getattr(leaf, "ndim", 0) >= 2 and _float32(leaf)


def _float32(leaf: Any) -> bool:
    return str(getattr(leaf, "dtype", "")).endswith("float32")


def _low_matrix(leaf: Any) -> bool:
    return getattr(leaf, "ndim", 0) >= 2 and str(getattr(leaf, "dtype", "")).endswith(
        ("bfloat16", "float16"))


def same_share(first: bytes, now: bytes) -> float:
    """The share of a 16-bit sample's values bit-identical to the first look's."""
    old, new = memoryview(first).cast("H"), memoryview(now).cast("H")
    return sum(a == b for a, b in zip(old, new)) / max(1, min(len(old), len(new)))


def _same(shares: list[float]) -> dict:
    """The median share, over the low-precision weight matrices, of sampled values never
    changed since the first look (absent when there are none)."""
    found = sorted(shares)
    return {"low_same_share": round(found[len(found) // 2], 3),
            "low_matrices": len(found)} if found else {}


LAYER = re.compile(r"^(.*?)\.(\d+)\.(.+)$")  # `blocks.2.back`: stack, index, the rest


def top_only(groups: dict[str, list[bool]], still: list[str]) -> list[str]:
    """The unchanged groups (`still`) that lie in the top layer of an indexed stack (index
    >= 1), whose namesake in a lower layer of that stack changed at this look: a sublayer
    whose output only the next layer reads (an N-BEATS block's backcast; fresh364
    `brinepool_nbeats`, correct: `blocks.2.back` unchanged while `blocks.0.back` and
    `blocks.1.back` trained). From the groups' names and flags only."""
    parsed = {g: found.groups() for g in groups if (found := LAYER.match(g))}
    top: dict[str, int] = {}
    for stack, index, _ in parsed.values():
        top[stack] = max(top.get(stack, 0), int(index))
    changed = {(stack, rest) for g, (stack, index, rest) in parsed.items()
               if any(groups[g]) and int(index) < top[stack]}
    return [g for g in still if g in parsed and int(parsed[g][1]) == top[parsed[g][0]] >= 1
            and (parsed[g][0], parsed[g][2]) in changed]


def _stuck(groups: dict[str, list[bool]], still: list[tuple[str, str]]) -> dict:
    """float32 weight matrices unchanged since the last look while another parameter of
    their own module (its bias, a norm) changed: the gradient reached the module, not the
    weight (absent when none)."""
    stuck = sorted(path for group, path in still if any(groups.get(group, ())))
    return {"stuck": stuck[:MAX_NAMES]} if stuck else {}


def _median(key: str, values: list[float | None]) -> dict:
    """The median of the float32 leaves' values under `key` (absent when none)."""
    found = sorted(v for v in values if v is not None)
    return {key: float(f"{found[len(found) // 2]:.3g}")} if found else {}


def _summary(groups: dict[str, list[bool]], unchanged: list[str], bad: set[str], seen: int,
             looks: int) -> dict:
    return {"look": looks, "leaves": seen, "compared": len(groups),
            "changed": len(groups) - len(unchanged), "unchanged": unchanged[:MAX_NAMES],
            "unchanged_count": len(unchanged), "nonfinite": sorted(bad)[:MAX_NAMES]}


def lookup_tables(model: Any) -> set[str]:
    """The paths of the model's lookup-table modules: an `Embedding` or a subclass of one
    (by class name: this side does not import mlx)."""
    try:
        modules = model.named_modules()
    except (AttributeError, TypeError):
        return set()
    return {path for path, module in modules
            if any(c.__name__.endswith("Embedding") for c in type(module).__mro__)}


def _flat(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, leaf) of a parameter tree (dicts and lists, as `tree_flatten`)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _flat(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            yield from _flat(value, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix, tree


def _array_ids(tree: Any) -> set[int]:
    """ids of the leaves of an eval's arguments (arrays: what is not a container)."""
    found: set[int] = set()
    stack, visited = [tree], 0
    while stack and visited < WALK_LIMIT:
        item = stack.pop()
        visited += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        else:
            found.add(id(item))
    return found


def read_sample(leaf: Any, sample: int = SAMPLE) -> tuple[bytes | None, bool]:
    """(`sample` strided values' bytes, all finite) of an evaluated array's memory; (None,
    True) for anything whose memory cannot be read as one contiguous block."""
    try:
        view = memoryview(leaf)
    except (TypeError, ValueError, RuntimeError):
        return None, True
    if not view.c_contiguous or view.nbytes == 0:
        return None, True
    code = {1: "B", 2: "H", 4: "I", 8: "Q"}.get(view.itemsize)
    if code is None:
        return None, True
    words = view.cast("B").cast(code)
    picked = words[::stride_for(len(words), view.shape, sample)].tobytes()
    return picked, _finite(picked, view.format, code)


def stride_for(count: int, shape: tuple[int, ...], sample: int = SAMPLE) -> int:
    """The sample's stride: SAMPLE values evenly spread, and for a matrix a stride that
    shares no factor with its row length, so the values fall in as many columns as they
    can. A stride that divides the row length reads one column only: 4096 values of a
    64 x 64 weight at stride 128 are all column 0, the weights of one hidden unit, which
    never change when that unit's ReLU is dead (a RealNVP flow's coupling net, fresh20
    `correct_a20_realnvp_yaml`: a false `no_update:stuck_weights`). Nor a stride of one
    more than a row's length (modulo it), which walks the diagonal: a 36 x 36 coupling read
    at stride 37 is 32 diagonal values, and a Hopfield coupling symmetrised with its
    diagonal zeroed never moves there (fresh358 `quilt_motif_attractor_resume`, correct: a
    false `no_update:part`)."""
    stride = max(1, count // sample)
    row = shape[-1] if len(shape) >= 2 else 1
    while stride > 1 and (math.gcd(stride, row) != 1 or row > 2 and stride % row == 1):
        stride -= 1
    return stride


def _finite(picked: bytes, fmt: str, code: str) -> bool:
    """Whether the sampled values of a float array are all finite (integers always are)."""
    if fmt in ("f", "d", "e"):
        return all(math.isfinite(v) for (v,) in struct.iter_unpack(fmt, picked))
    if fmt == "bfloat16":  # exponent bits all ones: inf or nan
        return all((w & 0x7F80) != 0x7F80 for w in memoryview(picked).cast(code))
    return True
