"""Signal-box lever frame audit: is an odd number of levers pulled?

Each frame has 8 lever slots; a slot is pulled (+1), set back (-1) or
empty (0).  The interlocking is only consistent when the number of pulled
levers is even, so the task is the parity of the +1 count.

Model: PonderNet (Banino et al. 2021).  A GRU step function is applied to
the same frame again and again; at every step it emits a parity logit and
a halting probability lambda_n.  Training minimises the halting-weighted
reconstruction loss plus beta * KL(p_n || truncated geometric(lambda_p)).
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

SLOTS = 8
HIDDEN = 48
MAX_STEPS = 8
LAMBDA_P = 0.25
BETA = 0.01
BATCH = 128
STEPS = 2000
REPORT = 200

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_frames(n):
    k = rng.integers(1, SLOTS + 1, size=(n, 1))
    order = np.argsort(rng.random((n, SLOTS)), axis=1)
    present = order < k
    signs = rng.choice([-1.0, 1.0], size=(n, SLOTS))
    x = np.where(present, signs, 0.0).astype(np.float32)
    y = ((x == 1.0).sum(axis=1) % 2).astype(np.float32)
    return mx.array(x), mx.array(y)


class PonderGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.GRU(SLOTS, HIDDEN)
        self.readout = nn.Linear(HIDDEN, 1)
        self.halt = nn.Linear(HIDDEN, 1)

    def __call__(self, x):
        b = x.shape[0]
        h = mx.zeros((b, HIDDEN))
        logits, lambdas = [], []
        for n in range(MAX_STEPS):
            h = self.cell(x[:, None, :], h)[:, -1, :]
            logits.append(self.readout(h)[:, 0])
            if n == MAX_STEPS - 1:
                lambdas.append(mx.ones((b,)))
            else:
                lambdas.append(mx.sigmoid(self.halt(h)[:, 0]))
        logits = mx.stack(logits, axis=1)          # (B, N)
        lambdas = mx.stack(lambdas, axis=1)        # (B, N)
        not_halted = mx.cumprod(1.0 - lambdas, axis=1)
        not_halted = mx.concatenate([mx.ones((b, 1)), not_halted[:, :-1]], axis=1)
        p = lambdas * not_halted                   # (B, N), rows sum to 1
        return logits, p


def geometric_prior():
    k = np.arange(MAX_STEPS)
    g = LAMBDA_P * (1.0 - LAMBDA_P) ** k
    g = g / g.sum()
    return mx.array(g.astype(np.float32))


PRIOR = geometric_prior()


def losses(model, x, y):
    logits, p = model(x)
    yb = mx.broadcast_to(y[:, None], logits.shape)
    bce = nn.losses.binary_cross_entropy(logits, yb, with_logits=True, reduction="none")
    rec = mx.mean(mx.sum(p * bce, axis=1))
    kl = mx.mean(mx.sum(p * (mx.log(p + 1e-9) - mx.log(PRIOR)), axis=1))
    return rec + BETA * kl, (rec, kl)


def total_loss(model, x, y):
    return losses(model, x, y)[0]


def evaluate(model, x, y):
    logits, p = model(x)
    _, (rec, kl) = losses(model, x, y)
    steps = mx.arange(1, MAX_STEPS + 1, dtype=mx.float32)
    expected = mx.mean(mx.sum(p * steps, axis=1))
    # sample a halting step per frame, as at deployment time
    halt_at = mx.random.categorical(mx.log(p + 1e-9), axis=1)
    chosen = mx.take_along_axis(logits, halt_at[:, None], axis=1)[:, 0]
    acc = mx.mean(((chosen > 0).astype(mx.float32) == y).astype(mx.float32))
    return rec.item(), kl.item(), expected.item(), acc.item()


def sexp(tag, **kv):
    parts = []
    for k, v in kv.items():
        if isinstance(v, float):
            parts.append(f"({k} {v:.4f})")
        else:
            parts.append(f"({k} {v})")
    print(f"({tag} " + " ".join(parts) + ")", flush=True)


def main():
    t0 = time.time()
    xv, yv = make_frames(2000)
    model = PonderGRU()
    mx.eval(model.parameters())

    warm = optim.linear_schedule(0.0, 3e-3, 300)
    decay = optim.cosine_decay(3e-3, STEPS - 300, 3e-4)
    sched = optim.join_schedules([warm, decay], [300])
    opt = optim.Adam(learning_rate=sched)
    step_fn = nn.value_and_grad(model, total_loss)

    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    sexp("run", slots=SLOTS, hidden=HIDDEN, max_steps=MAX_STEPS, lambda_p=LAMBDA_P,
         beta=BETA, params=n_params, chance_bce=math.log(2))
    rec, kl, exp_n, acc = evaluate(model, xv, yv)
    sexp("untrained", valid_rec=rec, valid_kl=kl, expected_steps=exp_n, valid_acc_pct=100 * acc)

    # one eager gradient audit before training
    xb, yb = make_frames(BATCH)
    _, grads = step_fn(model, xb, yb)
    flat = tree_flatten(grads)
    zero = [k for k, g in flat if mx.max(mx.abs(g)).item() == 0.0]
    sexp("grad-check", leaves=len(flat), zero_leaves=len(zero))

    window = []
    for it in range(1, STEPS + 1):
        lr_used = float(sched(opt.step))
        xb, yb = make_frames(BATCH)
        loss, grads = step_fn(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if it % REPORT == 0:
            rec, kl, exp_n, acc = evaluate(model, xv, yv)
            sexp("report", step=it, lr=lr_used, train_total=float(np.mean(window)),
                 valid_rec=rec, valid_kl=kl, expected_steps=exp_n,
                 valid_acc_pct=100 * acc, secs=round(time.time() - t0, 1))
            window = []
    sexp("done", secs=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
