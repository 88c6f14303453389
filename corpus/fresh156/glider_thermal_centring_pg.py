# glider thermal centring -- a policy learns which way to shift the circle
# from the four vario readings taken around the current turn.
# stage "cumulus" : wide, strong thermals, calm vario
# stage "blue"    : narrow, weak blue thermals, noisy vario (harder: climb drops)
# REINFORCE with an EMA baseline and an entropy bonus, compiled update, RMSprop.
# Quiet while flying; one table per stage at the end of the stage.
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

HEADINGS = 8
SHIFT = 0.9          # circle shift, in units of 100 m
PROBE_R = 0.5        # vario probe radius around the circle centre
SINK = 0.8           # glider sink rate, m/s

STAGES = [
    dict(name="cumulus", width=1.4, peak=3.2, vario_sd=0.15, iters=260),
    dict(name="blue", width=0.8, peak=2.4, vario_sd=0.35, iters=340),
]


def climb(core, pos, width, peak):
    d2 = ((core - pos) ** 2).sum(-1)
    return peak * np.exp(-d2 / (2 * width ** 2)) - SINK


def draw_thermals(rng, n, st):
    r = rng.uniform(0.3, 1.6, n)
    a = rng.uniform(0, 2 * math.pi, n)
    core = np.stack([r * np.cos(a), r * np.sin(a)], 1)
    probes = PROBE_R * np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.float64)
    v = np.stack([climb(core, p, st["width"], st["peak"]) for p in probes], 1)
    v += rng.normal(0, st["vario_sd"], v.shape)
    return core, v.astype(np.float32)


ANG = np.arange(HEADINGS) * 2 * math.pi / HEADINGS
MOVES = SHIFT * np.stack([np.cos(ANG), np.sin(ANG)], 1)


def rewards_for(core, actions, st, rng):
    pos = MOVES[actions]
    return climb(core, pos, st["width"], st["peak"]) + rng.normal(0, 0.1, len(actions))


def oracle_and_random(core, st):
    all_r = np.stack([climb(core, MOVES[a], st["width"], st["peak"]) for a in range(HEADINGS)], 1)
    return all_r.max(1).mean(), all_r.mean()


class Pilot(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, HEADINGS)

    def __call__(self, v):
        h = nn.tanh(self.l1(v))
        h = nn.tanh(self.l2(h))
        return self.head(h)


pilot = Pilot()
opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
mx.eval(pilot.parameters())


def pg_loss(model, v, actions, adv, ent_coef):
    logits = model(v)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    chosen = mx.take_along_axis(logp, actions[:, None], axis=-1).squeeze(-1)
    entropy = -(mx.exp(logp) * logp).sum(-1).mean()
    return -(chosen * adv).mean() - ent_coef * entropy, entropy


state = [pilot.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def update(v, actions, adv, ent_coef):
    (loss, ent), grads = nn.value_and_grad(pilot, pg_loss)(pilot, v, actions, adv, ent_coef)
    opt.update(pilot, grads)
    return loss, ent


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    batch = 128

    # one-off check that every tensor of the pilot receives gradient
    core, v = draw_thermals(rng, batch, STAGES[0])
    a = rng.integers(0, HEADINGS, batch)
    r = rewards_for(core, a, STAGES[0], rng)
    g = nn.value_and_grad(pilot, lambda m, *xs: pg_loss(m, *xs)[0])(
        pilot, mx.array(v), mx.array(a), mx.array((r - r.mean()).astype(np.float32)), 0.01)[1]
    leaves = [x for _, x in __import__("mlx.utils").utils.tree_flatten(g)]
    print(f"[check] {len(leaves)} grad tensors, smallest norm {min(mx.linalg.norm(x).item() for x in leaves):.2e}")

    t0 = time.time()
    for st in STAGES:
        baseline = 0.0
        rows = []
        window = []
        for it in range(st["iters"]):
            core, v = draw_thermals(rng, batch, st)
            logits = pilot(mx.array(v))
            acts = mx.random.categorical(logits)
            acts_np = np.array(acts)
            r = rewards_for(core, acts_np, st, rng)
            baseline = 0.9 * baseline + 0.1 * r.mean() if it else r.mean()
            adv = (r - baseline) / (r.std() + 1e-6)
            ent_coef = 0.02 if it < st["iters"] // 2 else 0.005
            loss, ent = update(mx.array(v), acts, mx.array(adv.astype(np.float32)), ent_coef)
            mx.eval(loss, ent, pilot.parameters(), opt.state)
            window.append(r.mean())
            if (it + 1) % 40 == 0 or it + 1 == st["iters"]:
                orc, rnd = oracle_and_random(core, st)
                rows.append((it + 1, np.mean(window), orc, rnd, ent.item(), loss.item()))
                window = []
        print(f"\n== stage {st['name']}  (thermal width {st['width'] * 100:.0f} m, vario noise {st['vario_sd']:.2f} m/s)")
        print(f"{'iter':>5} {'climb m/s':>10} {'oracle':>7} {'random':>7} {'gap %':>6} {'entropy':>8} {'pg loss':>8}")
        for it, c, orc, rnd, e, l in rows:
            gap = 100 * (orc - c) / (orc - rnd)
            print(f"{it:>5} {c:>10.3f} {orc:>7.3f} {rnd:>7.3f} {gap:>6.1f} {e:>8.3f} {l:>8.3f}")

    # held-out flight test per stage with greedy headings
    print("\nflight test (greedy, 2000 thermals each)")
    for st in STAGES:
        core, v = draw_thermals(rng, 2000, st)
        a = np.array(mx.argmax(pilot(mx.array(v)), axis=-1))
        got = climb(core, MOVES[a], st["width"], st["peak"]).mean()
        orc, rnd = oracle_and_random(core, st)
        print(f"  {st['name']:<8} climb {got:+.3f} m/s | oracle {orc:+.3f} | random {rnd:+.3f} | captured {100 * (got - rnd) / (orc - rnd):.1f}%")
    print(f"wall {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
