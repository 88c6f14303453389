"""Kelp-forest survey: sea-urchin counts per 1 m^2 quadrat, Poisson regression.

Two sessions in one script: session 1 trains and writes a checkpoint
(weights + optimizer state + step counter) to a temp folder; session 2
builds a FRESH model and optimizer, restores the checkpoint and goes on.
The Poisson NLL drops the log(y!) constant, so it goes negative.
"""
import logging
import math
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(levelname)-5s %(name)s | %(message)s")
log = logging.getLogger("urchins")

N_TRAIN, N_TEST, FEATS = 24000, 3000, 7


def make_survey(rng, n):
    depth = rng.uniform(2, 20, n)              # metres
    kelp = rng.beta(2, 2, n)                   # canopy cover 0..1
    otter = rng.binomial(1, 0.35, n)           # otters seen on the transect
    temp = rng.normal(13, 2.0, n)              # deg C
    rock = rng.uniform(0, 1, n)                # rocky share of the quadrat
    swell = rng.gamma(2.0, 0.6, n)             # metres
    sheep = rng.poisson(1.5, n)                # sheephead fish counted
    log_rate = (2.0 + 0.06 * depth - 1.7 * kelp - 0.9 * otter + 0.12 * (temp - 13)
                + 0.9 * rock * (1 - kelp) - 0.25 * swell - 0.15 * sheep)
    y = rng.poisson(np.exp(log_rate))
    X = np.stack([depth, kelp, otter, temp, rock, swell, sheep], 1).astype(np.float32)
    return X, y.astype(np.float32)


class UrchinModel(nn.Module):
    def __init__(self, d_in, width=96):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                  nn.Linear(width, width), nn.SiLU())
        self.rate_head = nn.Linear(width, 1)

    def __call__(self, x):
        return self.rate_head(self.body(x)).squeeze(-1)   # log-rate


def poisson_nll(log_rate, y):
    # exp(eta) - y*eta ; the log(y!) term is constant and left out
    return mx.mean(mx.exp(log_rate) - y * log_rate)


def loss_fn(model, x, y):
    return poisson_nll(model(x), y)


def evaluate(model, X, y, null_dev_rate):
    eta = model(X)
    nll = poisson_nll(eta, y).item()
    mu = np.array(mx.exp(eta))
    yn = np.array(y)
    mae = float(np.mean(np.abs(mu - yn)))
    # deviance explained (%), higher is better
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(yn > 0, yn * np.log(yn / mu), 0.0)
        dev = 2 * np.sum(t - (yn - mu))
        t0 = np.where(yn > 0, yn * np.log(yn / null_dev_rate), 0.0)
        dev0 = 2 * np.sum(t0 - (yn - null_dev_rate))
    return nll, mae, 100.0 * (1 - dev / dev0)


def batches(rng, n, bs):
    perm = rng.permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(perm[i:i + bs])


def save_checkpoint(folder, model, opt, step):
    model.save_weights(os.path.join(folder, "model.safetensors"))
    state = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(folder, "optim.safetensors"), state,
                        metadata={"step": str(step)})


def load_checkpoint(folder, model, opt):
    model.load_weights(os.path.join(folder, "model.safetensors"))
    state, meta = mx.load(os.path.join(folder, "optim.safetensors"), return_metadata=True)
    opt.state = tree_unflatten(list(state.items()))
    mx.eval(model.parameters(), opt.state)
    return int(meta["step"])


def run_session(name, model, opt, start_step, n_epochs, data, rng, stats, steps_per_epoch):
    Xtr, ytr, Xte, yte, mu, sd, null_rate = data
    lvg = nn.value_and_grad(model, loss_fn)
    step = start_step
    for ep in range(n_epochs):
        run_loss, nb = 0.0, 0
        for idx in batches(rng, Xtr.shape[0], 100):
            xb = (Xtr[idx] - mu) / sd
            loss, grads = lvg(model, xb, ytr[idx])
            if step == 0:
                flat = tree_flatten(grads)
                dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                log.info("first step: %d gradient leaves, %d all-zero %s", len(flat), len(dead), dead)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run_loss += loss.item()
            nb += 1
            step += 1
        nll, mae, d2 = evaluate(model, (Xte - mu) / sd, yte, null_rate)
        log.info("%s epoch %d/%d step %d train_nll=%.4f test_nll=%.4f test_mae=%.3f deviance_explained=%.1f%%",
                 name, ep + 1, n_epochs, step, run_loss / nb, nll, mae, d2)
    return step


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    Xtr, ytr = make_survey(rng, N_TRAIN)
    Xte, yte = make_survey(rng, N_TEST)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    null_rate = float(ytr.mean())
    log.info("survey: %d train quadrats, %d test, mean count %.2f, share of zeros %.0f%%",
             N_TRAIN, N_TEST, null_rate, 100 * np.mean(ytr == 0))
    data = (mx.array(Xtr), mx.array(ytr), mx.array(Xte), mx.array(yte),
            mx.array(mu), mx.array(sd), null_rate)

    steps_per_epoch = N_TRAIN // 100
    total_epochs = 14
    sched = optim.cosine_decay(3e-3, total_epochs * steps_per_epoch, 1e-4)

    with tempfile.TemporaryDirectory() as ckpt:
        model = UrchinModel(FEATS)
        opt = optim.Adamax(learning_rate=sched)
        nll0, mae0, d20 = evaluate(model, (data[2] - data[4]) / data[5], data[3], null_rate)
        log.info("untrained: test_nll=%.4f test_mae=%.3f deviance_explained=%.1f%%", nll0, mae0, d20)
        step = run_session("session1", model, opt, 0, 6, data, rng, None, steps_per_epoch)
        save_checkpoint(ckpt, model, opt, step)
        log.info("checkpoint written at step %d (%s)", step, sorted(os.listdir(ckpt)))
        del model, opt

        model = UrchinModel(FEATS)          # fresh objects, as a restarted job would build
        opt = optim.Adamax(learning_rate=sched)
        opt.init(model.trainable_parameters())
        step = load_checkpoint(ckpt, model, opt)
        nll, mae, d2 = evaluate(model, (data[2] - data[4]) / data[5], data[3], null_rate)
        log.info("resumed at step %d (optimizer step %d): test_nll=%.4f deviance_explained=%.1f%%",
                 step, int(opt.state["step"].item()), nll, d2)
        step = run_session("session2", model, opt, step, total_epochs - 6, data, rng, None, steps_per_epoch)

    log.info("done after %d steps", step)


if __name__ == "__main__":
    main()
