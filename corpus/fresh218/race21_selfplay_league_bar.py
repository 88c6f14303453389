"""Race to 21 by self-play.

Two players alternately add 1, 2 or 3 to a running total that starts at a random
value in 0..12; whoever brings the total to 21 or more wins.  The learner plays
a frozen snapshot of itself (the 'league opponent'), which is replaced by the
learner every generation, so the win rate against the snapshot falls back
towards 50% each time the counter restarts.  REINFORCE with a batch-mean
baseline and a small entropy bonus; SGD + momentum with a learning rate that
warms up from exactly 0.
"""
import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

TARGET = 21
N_STATES = TARGET          # totals 0..20 can be on the table at a decision
GAMES = 256
GENERATIONS = 7
ITERS_PER_GEN = 40
ENT_COEF = 0.01

rng = np.random.default_rng(3)
mx.random.seed(3)


class Mover(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_STATES, 48), nn.Tanh(), nn.Linear(48, 3))

    def __call__(self, x):
        return self.body(x)


def onehot(totals):
    return mx.array(np.eye(N_STATES, dtype=np.float32)[totals])


def pick(model, totals, greedy=False):
    logits = model(onehot(totals))
    a = mx.argmax(logits, axis=1) if greedy else mx.random.categorical(logits)
    return np.array(a) + 1      # add 1..3


def play(learner, opponent, n, learner_first=None):
    """Play n games; returns learner (states, actions, returns) and win flags."""
    totals = rng.integers(0, 13, size=n)
    turn_learner = rng.random(n) < 0.5 if learner_first is None else np.full(n, learner_first)
    done = np.zeros(n, dtype=bool)
    learner_won = np.zeros(n, dtype=bool)
    st, ac, gid = [], [], []
    while not done.all():
        live = np.where(~done)[0]
        lrn = live[turn_learner[live]]
        opp = live[~turn_learner[live]]
        if len(lrn):
            a = pick(learner, totals[lrn])
            st.append(totals[lrn].copy()); ac.append(a - 1); gid.append(lrn)
            totals[lrn] += a
            fin = lrn[totals[lrn] >= TARGET]
            learner_won[fin] = True
            done[fin] = True
        if len(opp):
            a = pick(opponent, totals[opp]) if opponent is not None else rng.integers(1, 4, size=len(opp))
            totals[opp] += a
            done[opp[totals[opp] >= TARGET]] = True
        turn_learner[live] = ~turn_learner[live]
    st = np.concatenate(st); ac = np.concatenate(ac); gid = np.concatenate(gid)
    ret = np.where(learner_won[gid], 1.0, -1.0).astype(np.float32)
    return st, ac, ret, learner_won


def optimal_move_share(model):
    # from a total t with t % 4 != 1 the winning move lands on 1 mod 4 (or reaches 21)
    ts = np.array([t for t in range(N_STATES) if t % 4 != 1])
    best = np.array([next(a for a in (1, 2, 3) if (t + a) % 4 == 1 or t + a >= TARGET) for t in ts])
    got = pick(model, ts, greedy=True)
    return 100.0 * float((got == best).mean())


def loss_fn(model, x, a, adv):
    logits = model(x)
    logp = logits - mx.logsumexp(logits, axis=1, keepdims=True)
    chosen = mx.take_along_axis(logp, a[:, None], axis=1)[:, 0]
    ent = -(mx.exp(logp) * logp).sum(axis=1).mean()
    return -(chosen * adv).mean() - ENT_COEF * ent


learner = Mover()
snapshot = Mover()
snapshot.update(learner.parameters())
snapshot.freeze()
mx.eval(learner.parameters(), snapshot.parameters())

warm = optim.linear_schedule(0.0, 0.05, 30)
opt = optim.SGD(learning_rate=optim.join_schedules([warm, lambda s: mx.array(0.05)], [30]), momentum=0.9)
grad_fn = nn.value_and_grad(learner, loss_fn)

_, _, _, w_rand = play(Mover(), None, 2000)       # untrained net vs random mover
print(f"baseline  untrained-vs-random win {100 * w_rand.mean():5.1f}%  | optimal-move share {optimal_move_share(learner):5.1f}%")

for gen in range(1, GENERATIONS + 1):
    for it in range(1, ITERS_PER_GEN + 1):
        st, ac, ret, won = play(learner, snapshot, GAMES)
        adv = ret - ret.mean()
        loss, grads = grad_fn(learner, onehot(st), mx.array(ac), mx.array(adv))
        if gen == 1 and it == 1:
            for k, g in tree_flatten(grads):
                print(f"  audit  |grad| {k:<18} {mx.linalg.norm(g).item():.3e}")
        opt.update(learner, grads)
        mx.eval(learner.parameters(), opt.state, loss)
        if it % 10 == 0:
            bar = "#" * (it * 20 // ITERS_PER_GEN)
            _, _, _, w_r = play(learner, None, 1000)
            print(f"gen {gen} [{bar:<20}] {it:2d}/{ITERS_PER_GEN} | loss {loss.item():+.4f} | "
                  f"win_vs_snapshot {100 * won.mean():5.1f}% | vs_random {100 * w_r.mean():5.1f}% "
                  f"(ref {100 * w_rand.mean():4.1f}%) | optimal {optimal_move_share(learner):5.1f}% "
                  f"| lr {opt.learning_rate.item():.3f}")
    snapshot.update(learner.parameters())
    mx.eval(snapshot.parameters())

_, _, _, w_first = play(learner, None, 4000, learner_first=True)
_, _, _, w_snap = play(learner, snapshot, 4000)
print(f"final: vs_random {100 * w_first.mean():.1f}% moving first | vs own snapshot {100 * w_snap.mean():.1f}% "
      f"| optimal-move share {optimal_move_share(learner):.1f}%")
