"""Liverwort herbarium keys: 24 species in 6 genera from 10 microscope readings.

Two-tier (class-factored) softmax: p(species) = p(genus) * p(species | genus).
The training objective is CE(genus) + CE(species within the true genus), which
is exactly the species negative log-likelihood in nats.

Output: InfluxDB line protocol, one record per report.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_GENERA, PER_GENUS, N_FEAT = 6, 4, 10
N_SPECIES = N_GENERA * PER_GENUS
BATCH = 128


def make_data(seed=11, n_train=12000, n_valid=3000):
    rng = np.random.default_rng(seed)
    genus_c = rng.normal(0.0, 2.2, size=(N_GENERA, N_FEAT))
    species_c = genus_c.repeat(PER_GENUS, axis=0) + rng.normal(0.0, 0.9, size=(N_SPECIES, N_FEAT))
    # uneven collection effort: some species are rare in the herbarium
    prior = rng.dirichlet(np.full(N_SPECIES, 2.0))
    n = n_train + n_valid
    y = rng.choice(N_SPECIES, size=n, p=prior)
    x = species_c[y] + rng.normal(0.0, 1.0, size=(n, N_FEAT))
    x[:, 7] = np.log1p(np.abs(x[:, 7]) * 3.0)          # a skewed cell-size reading
    x = (x - x[:n_train].mean(0)) / x[:n_train].std(0)
    return (x[:n_train].astype(np.float32), y[:n_train].astype(np.int32),
            x[n_train:].astype(np.float32), y[n_train:].astype(np.int32), prior)


class TwoTier(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(N_FEAT, hidden), nn.SiLU(),
                                   nn.Linear(hidden, hidden), nn.SiLU())
        self.genus_head = nn.Linear(hidden, N_GENERA)
        self.species_head = nn.Linear(hidden, N_SPECIES)

    def __call__(self, x):
        h = self.trunk(x)
        g = self.genus_head(h)
        s = self.species_head(h).reshape(-1, N_GENERA, PER_GENUS)
        return g, s

    def species_logprobs(self, x):
        g, s = self(x)
        lg = g - mx.logsumexp(g, axis=-1, keepdims=True)
        ls = s - mx.logsumexp(s, axis=-1, keepdims=True)
        return (lg[:, :, None] + ls).reshape(-1, N_SPECIES)


def loss_fn(model, x, y):
    g, s = model(x)
    genus = y // PER_GENUS
    within = y % PER_GENUS
    s_true = mx.take_along_axis(s, genus[:, None, None], axis=1).squeeze(1)
    l_genus = nn.losses.cross_entropy(g, genus, reduction="mean")
    l_within = nn.losses.cross_entropy(s_true, within, reduction="mean")
    return l_genus + l_within, (l_genus, l_within)


def evaluate(model, x, y):
    lp = model.species_logprobs(x)
    nll = -mx.take_along_axis(lp, y[:, None], axis=1).mean()
    pred = mx.argmax(lp, axis=1)
    acc = (pred == y).mean()
    gacc = ((pred // PER_GENUS) == (y // PER_GENUS)).mean()
    mx.eval(nll, acc, gacc)
    return nll.item(), acc.item(), gacc.item()


def line(measurement, tags, fields, ts):
    t = ",".join(f"{k}={v}" for k, v in tags.items())
    f = ",".join(f"{k}={v:.5f}" if isinstance(v, float) else f"{k}={v}i" for k, v in fields.items())
    print(f"{measurement},{t} {f} {ts}", flush=True)


def build(total_steps, seed):
    mx.random.seed(seed)
    model = TwoTier()
    warm = 150
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm),
         optim.cosine_decay(3e-3, total_steps - warm, end=5e-5)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return model, opt


def run_session(name, model, opt, xtr, ytr, xva, yva, epochs, step0, rng, t0):
    vg = nn.value_and_grad(model, loss_fn)
    step = step0
    n = len(xtr)
    for ep in range(epochs):
        perm = rng.permutation(n)
        run, rg, rw, cnt = 0.0, 0.0, 0.0, 0
        for i in range(0, n - BATCH + 1, BATCH):
            idx = mx.array(perm[i:i + BATCH])
            xb, yb = xtr[idx], ytr[idx]
            (loss, (lg, lw)), grads = vg(model, xb, yb)
            if step == 0:
                flat = tree_flatten(grads)
                zero = sum(1 for _, g in flat if mx.abs(g).max().item() == 0.0)
                line("gradcheck", {"session": name}, {"leaves": len(flat), "zero_leaves": zero}, step)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item(); rg += lg.item(); rw += lw.item(); cnt += 1
            step += 1
        vnll, vacc, vgacc = evaluate(model, xva, yva)
        line("epoch", {"session": name},
             {"step": step, "lr": float(opt.learning_rate.item()),
              "train_nll": run / cnt, "train_genus_ce": rg / cnt, "train_within_ce": rw / cnt,
              "valid_nll": vnll, "valid_ppl": float(np.exp(vnll)),
              "valid_acc_pct": 100.0 * vacc, "valid_genus_acc_pct": 100.0 * vgacc,
              "secs": time.time() - t0}, step)
    return step


def main():
    t0 = time.time()
    xtr_np, ytr_np, xva_np, yva_np, prior = make_data()
    xtr, ytr, xva, yva = map(mx.array, (xtr_np, ytr_np, xva_np, yva_np))
    steps_per_epoch = len(xtr_np) // BATCH
    epochs_a, epochs_b = 5, 7
    total = steps_per_epoch * (epochs_a + epochs_b)

    # reference points a reader can hold the numbers against
    freq = np.bincount(ytr_np, minlength=N_SPECIES) / len(ytr_np)
    prior_nll = float(-np.log(freq[yva_np]).mean())
    line("baseline", {"kind": "uniform"}, {"valid_nll": float(np.log(N_SPECIES)), "valid_ppl": float(N_SPECIES)}, 0)
    line("baseline", {"kind": "class_prior"},
         {"valid_nll": prior_nll, "valid_ppl": float(np.exp(prior_nll)),
          "valid_acc_pct": 100.0 * float((yva_np == freq.argmax()).mean())}, 0)

    model, opt = build(total, seed=3)
    vnll, vacc, _ = evaluate(model, xva, yva)
    line("untrained", {"session": "a"}, {"valid_nll": vnll, "valid_acc_pct": 100.0 * vacc}, 0)

    rng = np.random.default_rng(5)
    step = run_session("a", model, opt, xtr, ytr, xva, yva, epochs_a, 0, rng, t0)
    ref = evaluate(model, xva, yva)

    with tempfile.TemporaryDirectory() as d:
        wpath = os.path.join(d, "weights.safetensors")
        opath = os.path.join(d, "optimizer.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)), metadata={"step": str(step)})
        line("checkpoint", {"session": "a"}, {"step": step, "bytes": os.path.getsize(wpath) + os.path.getsize(opath)}, step)
        del model, opt

        model, opt = build(total, seed=99)   # different init; everything comes from disk
        model.load_weights(wpath)
        state, meta = mx.load(opath, return_metadata=True)
        opt.state = tree_unflatten(list(state.items()))
        mx.eval(model.parameters(), opt.state)
    got = evaluate(model, xva, yva)
    line("resume", {"session": "b"},
         {"step": int(meta["step"]), "valid_nll": got[0], "abs_diff_vs_saved": abs(got[0] - ref[0]),
          "lr": float(opt.learning_rate.item())}, step)

    step = run_session("b", model, opt, xtr, ytr, xva, yva, epochs_b, step, rng, t0)
    vnll, vacc, vgacc = evaluate(model, xva, yva)
    line("done", {"session": "b"},
         {"step": step, "valid_nll": vnll, "valid_acc_pct": 100.0 * vacc,
          "valid_genus_acc_pct": 100.0 * vgacc, "secs": time.time() - t0}, step)


if __name__ == "__main__":
    main()
