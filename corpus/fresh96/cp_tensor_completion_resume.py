"""Rank-4 CP (CANDECOMP/PARAFAC) completion of a user x item x week rating tensor.

Only ~18% of the entries are observed.  The three factor matrices are raw
mx.array attributes of one Module; the global mean is stored on the module too
but frozen on purpose (it is set from the data, never learned).  The update is a
hand-written heavy-ball SGD over tree_map with L2 on the factors.  Training runs
in two sessions: the first writes a checkpoint (weights + momentum buffers) into
a temp dir and the second session builds a fresh model, loads it and carries on.
"""
import logging
import os
import sys
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map, tree_unflatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("cp-complete")

I, J, K, RANK = 90, 70, 24, 4
OBS_FRAC, TEST_FRAC = 0.18, 0.04
NOISE = 0.15


class Config:
    rank = RANK
    lr = 1.0
    momentum = 0.9
    l2 = 2e-3
    steps_per_session = 600
    report_every = 75


def make_data(seed=11):
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(I, RANK)) / RANK ** 0.25
    V = rng.normal(size=(J, RANK)) / RANK ** 0.25
    t = np.arange(K)
    W = np.stack([np.ones(K), np.sin(2 * np.pi * t / K), np.cos(2 * np.pi * t / K),
                  t / K - 0.5], axis=1) / RANK ** 0.25
    T = 3.0 + np.einsum("ir,jr,kr->ijk", U, V, W)
    flat = rng.permutation(I * J * K)
    n_obs, n_test = int(OBS_FRAC * I * J * K), int(TEST_FRAC * I * J * K)
    obs, test = flat[:n_obs], flat[n_obs:n_obs + n_test]

    def split(ids, noisy):
        i, j, k = np.unravel_index(ids, (I, J, K))
        y = T[i, j, k] + (rng.normal(scale=NOISE, size=len(ids)) if noisy else 0.0)
        return (mx.array(i.astype(np.int32)), mx.array(j.astype(np.int32)),
                mx.array(k.astype(np.int32)), mx.array(y.astype(np.float32)))

    return split(obs, True), split(test, False)


class CPModel(nn.Module):
    def __init__(self, rank, mean):
        super().__init__()
        s = 0.6
        self.A = s * mx.random.normal((I, rank))
        self.B = s * mx.random.normal((J, rank))
        self.C = s * mx.random.normal((K, rank))
        self.mu = mx.array([mean], dtype=mx.float32)
        self.freeze(keys=["mu"])

    def __call__(self, i, j, k):
        return self.mu[0] + (self.A[i] * self.B[j] * self.C[k]).sum(axis=-1)


def objective(model, i, j, k, y, l2):
    resid = model(i, j, k) - y
    reg = sum((p ** 2).sum() for _, p in tree_flatten(model.trainable_parameters()))
    return mx.mean(resid ** 2) + l2 * reg / y.shape[0]


def rmse(model, data):
    i, j, k, y = data
    return mx.sqrt(mx.mean((model(i, j, k) - y) ** 2)).item()


def explained(model, data):
    """Fraction of the held-out variance explained (1.0 = perfect, 0 = mean only)."""
    i, j, k, y = data
    r = model(i, j, k) - y
    return 1.0 - (mx.sum(r ** 2) / mx.sum((y - y.mean()) ** 2)).item()


def run_session(cfg, model, velocity, train, test, start, tag):
    grad_fn = nn.value_and_grad(model, objective)
    for step in range(start + 1, start + cfg.steps_per_session + 1):
        loss, g = grad_fn(model, *train, cfg.l2)
        if step == 1:
            for name, leaf in tree_flatten(g):
                log.info("first-step grad %s: max|g|=%.3e", name, mx.abs(leaf).max().item())
        velocity = tree_map(lambda v, gr: cfg.momentum * v + gr, velocity, g)
        new_params = tree_map(lambda p, v: p - cfg.lr * v, model.trainable_parameters(), velocity)
        model.update(new_params)
        mx.eval(model.parameters(), velocity, loss)
        if step % cfg.report_every == 0:
            log.info("[%s] step=%d objective=%.4f train_rmse=%.4f heldout_rmse=%.4f "
                     "heldout_explained=%.3f", tag, step, loss.item(), rmse(model, train),
                     rmse(model, test), explained(model, test))
    return velocity


def main():
    mx.random.seed(5)
    cfg = Config()
    train, test = make_data()
    mean = train[3].mean().item()
    log.info("tensor %dx%dx%d, %d observed, %d held out, mu=%.3f (frozen)",
             I, J, K, train[3].shape[0], test[3].shape[0], mean)

    model = CPModel(cfg.rank, mean)
    mx.eval(model.parameters())
    n_train = sum(p.size for _, p in tree_flatten(model.trainable_parameters()))
    log.info("trainable=%d frozen=%s", n_train,
             [k for k, _ in tree_flatten(model.parameters())
              if k not in dict(tree_flatten(model.trainable_parameters()))])
    velocity = tree_map(mx.zeros_like, model.trainable_parameters())
    log.info("start heldout_rmse=%.4f", rmse(model, test))
    velocity = run_session(cfg, model, velocity, train, test, 0, "session-1")

    with tempfile.TemporaryDirectory() as tmp:
        wpath = os.path.join(tmp, "cp_weights.safetensors")
        vpath = os.path.join(tmp, "cp_velocity.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(vpath, dict(tree_flatten(velocity)))
        log.info("checkpoint written (%d + %d bytes); session 1 ends",
                 os.path.getsize(wpath), os.path.getsize(vpath))
        before = rmse(model, test)
        del model, velocity

        # ---- session 2: new process-like start from the checkpoint ----
        model = CPModel(cfg.rank, 0.0)
        model.load_weights(wpath)
        model.freeze(keys=["mu"])
        velocity = tree_unflatten(list(mx.load(vpath).items()))
        mx.eval(model.parameters(), velocity)
        after = rmse(model, test)
        log.info("resumed: mu=%.3f heldout_rmse=%.4f (at save %.4f)", model.mu.item(), after, before)
        velocity = run_session(cfg, model, velocity, train, test, cfg.steps_per_session, "session-2")

    log.info("done: heldout_rmse=%.4f (noise floor on observed data %.2f)", rmse(model, test), NOISE)


if __name__ == "__main__":
    main()
