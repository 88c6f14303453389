"""A loop that keeps compiling: the compiler's share of the run's recent time, seen from outside.

Job: MLX compiles kernels the first time a graph runs (the Linux CPU backend with a `g++`
child the sampler sees), and `mx.compile` traces a function again for every new input shape
and every new Python value passed to it (a float warm-up factor, an int step count): each is
a new graph and new kernels. A healthy run compiles a bounded set: in its first steps, and
once per new shape (a few buckets), after which the compiler is gone. A run that passes a
new constant at every call compiles at every step for ever; the steps still come, so no
deadline is missed (compile time is never counted against one), and the run crawls: a hang
for the user, with no heartbeat missing. `RecompileWatch` is fed one look per watchdog tick
(how long the tick was, whether a compiler ran, the heartbeat count) and says when the run
has compiled most of the time over WINDOWS consecutive windows of WINDOW_S after warm-up.

Thresholds and why:
- WINDOW_S = 60 s windows, WINDOWS = 3 of them in a row (3 minutes), each with the compiler
  running >= SHARE = 50% of it and >= MIN_STEPS = 10 heartbeats (the loop moves: a compile
  that never ends is the deadlines' case, a stack in the compiler), after >= WARM_STEPS = 20
  heartbeats (a cold first step compiles for 1-20+ s: it is not judged).
- the share does not fall: the last window's >= FADE x the first's. A run that meets many
  shapes at first (variable lengths padded to multiples of 8) compiles less as they are
  cached; a constant at every call compiles as much at step 500 as at step 50.
Measured (mlx 0.32.4, CPU, 2 cores): failure corpus fresh7 `compile_scalar_warmup_stall`
(mlx#3964: a Python float warm-up factor handed to a compiled step): 218 steps in 260 s,
the compiler running 199 s of them (77%), 1-3 s a step against ~1.3 ms fixed; its fixed twin
(the factor as an `mx.array`) compiled 1.3 s in all; `correct_compiled_bucketed_batches`
(3 padded shapes) 7.2 s in all, in its first epoch.
Kernels a GPU backend compiles inside the process are seen only in native stacks on a
missed deadline (`compiling`), not here: this watch sees the CPU backend's compiler child.

Pure: no processes, no clock of its own. Must not import: mlx, psutil, judging.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WINDOW_S = 60.0
WINDOWS = 3
SHARE = 0.5
MIN_STEPS = 10
WARM_STEPS = 20
FADE = 0.8


@dataclass
class Window:
    """One window's time, compile time and heartbeats."""

    start: float
    first_beat: int
    seconds: float = 0.0
    compiling_s: float = 0.0
    beats: int = 0

    def share(self) -> float:
        return self.compiling_s / self.seconds if self.seconds else 0.0

    def busy(self) -> bool:
        return self.share() >= SHARE and self.beats >= MIN_STEPS


@dataclass
class RecompileWatch:
    """Closed windows (the last WINDOWS), and the one being filled."""

    done: list[Window] = field(default_factory=list)
    open: Window | None = None
    last: float | None = None

    def look(self, now: float, compiling: bool, beats: int) -> None:
        """One watchdog tick, at `now`: whether a compiler ran since the last look."""
        tick_s, self.last = (0.0 if self.last is None else now - self.last), now
        if beats < WARM_STEPS:
            return
        if self.open is None:
            self.open = Window(now, beats)
        self.open.seconds += tick_s
        self.open.compiling_s += tick_s if compiling else 0.0
        self.open.beats = beats - self.open.first_beat
        if now - self.open.start >= WINDOW_S:
            self.done = [*self.done, self.open][-WINDOWS:]
            self.open = None

    def held(self) -> bool:
        """WINDOWS windows in a row, each mostly compiling while steps came, not fading."""
        if len(self.done) < WINDOWS or not all(w.busy() for w in self.done):
            return False
        return self.done[-1].share() >= FADE * self.done[0].share()

    def evidence(self) -> dict:
        return {"windows": [{"share": round(w.share(), 3), "compiling_s": round(w.compiling_s, 1),
                             "seconds": round(w.seconds, 1), "steps": w.beats}
                            for w in self.done],
                "window_s": WINDOW_S, "min_share": SHARE, "min_steps": MIN_STEPS,
                "warm_steps": WARM_STEPS, "fade": FADE}
