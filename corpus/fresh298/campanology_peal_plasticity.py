# Bell-ringing practice: a band learns a handful of new "touches" (rows of
# 24 bells, each bell either pulled at hand- or back-stroke, coded +1/-1)
# once, at the start of an evening, and must later call a whole touch back
# from half of it.  Model: a recurrent network with differentiable
# plasticity (Miconi et al. 2018).  Each connection has a slow weight w
# and a plastic part alpha * hebb, where hebb is a Hebbian trace that is
# rebuilt from zero within every evening and never touched by the
# optimizer; w, alpha and the trace rate eta are learned across evenings.

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

BELLS = 24
TOUCHES = 4
SHOW_STEPS, GAP_STEPS, REPEATS, TEST_STEPS = 2, 2, 2, 3
BATCH = 32
EVENINGS = 560
REPORT = 40


class PlasticBand(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.w = 0.01 * mx.random.normal((n, n))
        self.alpha = 0.01 * mx.random.normal((n, n))
        self.eta_logit = mx.array(-2.0)

    def __call__(self, inputs):
        b, t, n = inputs.shape
        eta = mx.sigmoid(self.eta_logit)
        y = mx.zeros((b, n))
        hebb = mx.zeros((b, n, n))
        for k in range(t):
            eff = self.w + self.alpha * hebb
            y_new = mx.tanh((y[:, None, :] @ eff).squeeze(1) + inputs[:, k])
            hebb = (1 - eta) * hebb + eta * (y[:, :, None] * y_new[:, None, :])
            y = y_new
        return y


def make_evenings(rng, n):
    touches = rng.choice([-1.0, 1.0], size=(n, TOUCHES, BELLS)).astype(np.float32)
    frames = []
    for _ in range(REPEATS):
        for j in range(TOUCHES):
            frames += [touches[:, j]] * SHOW_STEPS
            frames += [np.zeros((n, BELLS), np.float32)] * GAP_STEPS
    pick = rng.integers(0, TOUCHES, size=n)
    target = touches[np.arange(n), pick]
    keep = np.zeros((n, BELLS), np.float32)
    for i in range(n):
        keep[i, rng.choice(BELLS, BELLS // 2, replace=False)] = 1.0
    cue = target * keep
    frames += [cue] * TEST_STEPS
    seq = np.stack(frames, axis=1)
    return mx.array(seq), mx.array(target), mx.array(1.0 - keep)


def recall_loss(model, seq, target, hidden_mask):
    y = model(seq)
    return mx.mean(mx.square(y - target))


def hidden_bits_right(model, seq, target, hidden_mask):
    y = model(seq)
    right = (mx.sign(y) == target) * hidden_mask
    return float(mx.sum(right) / mx.sum(hidden_mask))


def tag(name, **attrs):
    parts = []
    for k, v in attrs.items():
        parts.append(f'{k}="{v:.4f}"' if isinstance(v, float) else f'{k}="{v}"')
    print(f"<{name} " + " ".join(parts) + "/>")


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    model = PlasticBand(BELLS)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=5e-3)
    step_fn = nn.value_and_grad(model, recall_loss)

    val = make_evenings(np.random.default_rng(999), 256)
    seq, target, hmask = make_evenings(rng, BATCH)
    _, g0 = step_fn(model, seq, target, hmask)
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.max(mx.abs(v))) == 0.0]
    print("<?xml version=\"1.0\"?>")
    print("<practice>")
    tag("setup", bells=BELLS, touches=TOUCHES, frames=int(seq.shape[1]),
        grad_leaves=len(leaves), zero_leaves=len(zero))
    tag("reference", guess_hidden_pct=50.0, untrained_hidden_pct=100 * hidden_bits_right(model, *val),
        untrained_mse=float(recall_loss(model, *val)))

    t0 = time.time()
    run = []
    for ev in range(1, EVENINGS + 1):
        seq, target, hmask = make_evenings(rng, BATCH)
        loss, grads = step_fn(model, seq, target, hmask)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if ev % REPORT == 0:
            tag("evening", n=ev, train_mse=float(np.mean(run)),
                val_mse=float(recall_loss(model, *val)),
                hidden_bits_pct=100 * hidden_bits_right(model, *val),
                eta=float(mx.sigmoid(model.eta_logit)),
                alpha_mean=float(mx.mean(model.alpha)),
                secs=time.time() - t0)
            run = []
    tag("done", val_mse=float(recall_loss(model, *val)),
        hidden_bits_pct=100 * hidden_bits_right(model, *val), secs=time.time() - t0)
    print("</practice>")


if __name__ == "__main__":
    main()
