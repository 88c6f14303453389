"""Track the electrical phase of a 5-phase stepper motor from its pulse stream.

Each token is one controller tick: idle, a single step forward / back (+-1
phase) or a double step forward / back (+-2).  The motor starts at phase 0;
the target at every tick is the phase after that tick (0..4).  A GRU tags
every tick.

Curriculum: the pulse streams get longer stage by stage (5 -> 10 -> 20 -> 32
ticks), so the loss jumps up when a new stage starts and then comes down again.

Nothing is printed while training: each report goes into an in-memory sqlite
table and the table is queried at the end.
"""

import sqlite3
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_PHASE = 5
DELTA = np.array([0, 1, -1, 2, -2])  # idle, fwd, rev, fwd x2, rev x2


def pulse_streams(rng, n, length):
    p = rng.choice(5, size=(n, length), p=[0.2, 0.3, 0.2, 0.15, 0.15])
    phase = np.cumsum(DELTA[p], axis=1) % N_PHASE
    return p.astype(np.int32), phase.astype(np.int32)


class PhaseTagger(nn.Module):
    def __init__(self, emb=8, hidden=32):
        super().__init__()
        self.embed = nn.Embedding(5, emb)
        self.rnn = nn.GRU(emb, hidden)
        self.out = nn.Linear(hidden, N_PHASE)

    def __call__(self, tokens):
        return self.out(self.rnn(self.embed(tokens)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    pred = mx.argmax(logits, axis=-1)
    tick_acc = mx.mean(pred == y)
    # a stream counts as tracked only if every tick is right
    seq_acc = mx.mean(mx.all(pred == y, axis=1))
    return loss.item(), tick_acc.item(), seq_acc.item()


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)

    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE log (stage INT, seq_len INT, step INT, lr REAL, "
        "train_ce REAL, val_ce REAL, tick_acc REAL, stream_acc REAL, secs REAL)"
    )

    model = PhaseTagger()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=4e-3)
    step_fn = nn.value_and_grad(model, loss_fn)

    stages = [(5, 200), (10, 150), (20, 150), (32, 150)]
    val_sets = {L: pulse_streams(rng, 400, L) for L, _ in stages}

    # gradient audit on the very first batch
    xb, yb = pulse_streams(rng, 64, stages[0][0])
    _, g0 = step_fn(model, mx.array(xb), mx.array(yb))
    flat = tree_flatten(g0)
    zero = [k for k, g in flat if float(mx.max(mx.abs(g))) == 0.0]
    audit = (len(flat), zero)

    t0 = time.perf_counter()
    global_step = 0
    for stage, (L, n_steps) in enumerate(stages, start=1):
        vx, vy = (mx.array(a) for a in val_sets[L])
        window = []
        for s in range(1, n_steps + 1):
            xb, yb = pulse_streams(rng, 64, L)
            loss, grads = step_fn(model, mx.array(xb), mx.array(yb))
            grads, _ = optim.clip_grad_norm(grads, max_norm=1.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
            global_step += 1
            if s == 1 or s % 25 == 0:
                vce, tacc, sacc = evaluate(model, vx, vy)
                db.execute(
                    "INSERT INTO log VALUES (?,?,?,?,?,?,?,?,?)",
                    (stage, L, global_step, float(opt.learning_rate.item()),
                     float(np.mean(window)), vce, tacc, sacc,
                     time.perf_counter() - t0),
                )
                window = []

    # final check: every length, including one longer than any training stream
    finals = []
    for L in (5, 10, 20, 32, 48):
        fx, fy = pulse_streams(rng, 300, L)
        finals.append((L,) + evaluate(model, mx.array(fx), mx.array(fy)))

    print(f"gradient audit: {audit[0]} leaves, all-zero leaves: {audit[1] or 'none'}")
    print("chance: val_ce = ln 5 = 1.609, tick_acc = 20.0 %")
    print()
    print("stage len  step   lr       train_ce  val_ce  tick_acc  stream_acc   secs")
    for row in db.execute(
        "SELECT stage, seq_len, step, lr, train_ce, val_ce, tick_acc, stream_acc, secs "
        "FROM log ORDER BY step"
    ):
        st, L, step, lr, tce, vce, ta, sa, secs = row
        print(f"{st:>5} {L:>3} {step:>5}  {lr:.1e}  {tce:8.4f}  {vce:6.4f}  "
              f"{100 * ta:7.2f}%  {100 * sa:9.2f}%  {secs:5.1f}")
    print()
    best = db.execute("SELECT stage, MIN(val_ce) FROM log GROUP BY stage").fetchall()
    print("best val_ce per stage:", ", ".join(f"stage {s}: {v:.4f}" for s, v in best))
    print("held-out streams after training:")
    for L, vce, ta, sa in finals:
        print(f"  len {L:>2}: val_ce {vce:.4f}  tick_acc {100 * ta:.2f}%  stream_acc {100 * sa:.2f}%")


if __name__ == "__main__":
    main()
