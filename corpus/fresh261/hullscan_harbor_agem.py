# Hull sonar sweep triage (clean / fouled / dented / cracked) learned harbor by
# harbor. Each harbor has its own water and its own sonar drift, so the model is
# trained on the three harbors in sequence (domain-incremental). A-GEM keeps a
# small episodic memory of earlier harbors and projects every update so that the
# memory loss does not go up. A plain sequential run is printed as a baseline.
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SEED = 11
D_IN = 10
N_CLS = 4
N_HARBORS = 3
STEPS = 400
BATCH = 64
MEM_PER_HARBOR = 150
LABEL_NOISE = 0.08


def make_harbors(rng):
    w0 = rng.normal(size=(D_IN, N_CLS))
    harbors = []
    for k in range(N_HARBORS):
        mu = rng.normal(scale=1.2, size=D_IN)
        wk = w0 + 1.1 * rng.normal(size=(D_IN, N_CLS))
        def draw(n, mu=mu, wk=wk):
            x = mu + rng.normal(size=(n, D_IN))
            logits = np.tanh(x) @ wk + 0.3 * (x[:, :N_CLS] ** 2)
            y = logits.argmax(axis=1)
            flip = rng.random(n) < LABEL_NOISE
            y[flip] = rng.integers(0, N_CLS, size=flip.sum())
            return x.astype(np.float32), y.astype(np.int32)
        xtr, ytr = draw(4000)
        xte, yte = draw(1000)
        harbors.append((mx.array(xtr), mx.array(ytr), mx.array(xte), mx.array(yte)))
    return harbors


class Triage(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D_IN, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, N_CLS)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=-1) == y).item()


def flat_dot(a, b):
    fa, fb = tree_flatten(a), tree_flatten(b)
    return sum(mx.sum(u * v) for (_, u), (_, v) in zip(fa, fb))


def run(harbors, use_agem, tag):
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED + 1)
    model = Triage()
    mx.eval(model.parameters())
    grad_fn = nn.value_and_grad(model, loss_fn)
    mem_x, mem_y = None, None
    rows = []
    projected = 0
    total = 0
    for k, (xtr, ytr, _, _) in enumerate(harbors):
        # fresh optimizer per harbor; learning rate warms up from exactly 0
        sched = optim.join_schedules(
            [optim.linear_schedule(0.0, 0.05, 60), optim.cosine_decay(0.05, STEPS - 60, 0.005)],
            [60],
        )
        opt = optim.SGD(learning_rate=sched, momentum=0.9)
        for step in range(1, STEPS + 1):
            idx = mx.array(rng.integers(0, xtr.shape[0], size=BATCH))
            loss, g = grad_fn(model, xtr[idx], ytr[idx])
            if use_agem and mem_x is not None:
                midx = mx.array(rng.integers(0, mem_x.shape[0], size=BATCH))
                _, g_ref = grad_fn(model, mem_x[midx], mem_y[midx])
                dot = flat_dot(g, g_ref)
                ref_sq = flat_dot(g_ref, g_ref)
                mx.eval(dot, ref_sq)
                total += 1
                if dot.item() < 0:
                    coef = dot / (ref_sq + 1e-12)
                    g = tree_map(lambda a, b: a - coef * b, g, g_ref)
                    projected += 1
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
            if step in (1, 60) or step % 100 == 0:
                lr = sched(mx.array(step - 1)).item()
                print(f"[{tag}] harbor {k} step {step:3d} lr {lr:.4f} loss {loss.item():.4f}",
                      flush=True)
        row = [accuracy(model, h[2], h[3]) for h in harbors[: k + 1]]
        rows.append(row)
        print(f"[{tag}] after harbor {k}: test acc per harbor "
              + " ".join(f"{a:.3f}" for a in row), flush=True)
        keep = rng.choice(xtr.shape[0], size=MEM_PER_HARBOR, replace=False)
        kx, ky = xtr[mx.array(keep)], ytr[mx.array(keep)]
        mem_x = kx if mem_x is None else mx.concatenate([mem_x, kx])
        mem_y = ky if mem_y is None else mx.concatenate([mem_y, ky])
    final = rows[-1]
    forgetting = np.mean([max(r[j] for r in rows if len(r) > j) - final[j]
                          for j in range(N_HARBORS - 1)])
    if use_agem:
        print(f"[{tag}] projected updates {projected}/{total}")
    return float(np.mean(final)), float(forgetting)


def main():
    t0 = time.time()
    harbors = make_harbors(np.random.default_rng(SEED))
    base_acc, base_fgt = run(harbors, use_agem=False, tag="sequential")
    agem_acc, agem_fgt = run(harbors, use_agem=True, tag="agem")
    print(f"summary: avg final acc  sequential {base_acc:.3f} | agem {agem_acc:.3f}")
    print(f"summary: avg forgetting sequential {base_fgt:.3f} | agem {agem_fgt:.3f}")
    print(f"label-noise ceiling about {1 - LABEL_NOISE * (N_CLS - 1) / N_CLS:.3f}")
    print(f"elapsed {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
