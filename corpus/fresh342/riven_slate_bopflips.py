"""Slate quarry tap-test grading: a binary-weight network trained with Bop.

Roofing slates are struck and the ring is summarised as 24 band features.
Five grades: best / heavy / medium / seconds / reject.

Hidden layers keep +1/-1 weights only (no latent real-valued copy);
Bop flips a weight when its gradient momentum is large and agrees in sign.
The input and output layers stay float and are trained with Adam.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N_TRAIN, N_TEST, D, K = 8000, 2000, 24, 5


def make_slates(n):
    thick = rng.normal(0, 1, n)
    lam = rng.normal(0, 1, n)          # lamination quality
    pyr = rng.normal(0, 1, n)          # pyrite inclusions
    freq = np.linspace(0.0, 1.0, D)
    ring = (np.exp(-((freq[None, :] - (0.45 + 0.08 * thick[:, None])) ** 2) / 0.02)
            * (1.0 + 0.6 * lam[:, None])
            + 0.5 * pyr[:, None] * np.sin(9 * freq[None, :])
            + 0.35 * rng.normal(0, 1, (n, D)))
    score = 1.1 * lam - 0.9 * np.abs(pyr) + 0.4 * np.tanh(thick) + 0.3 * rng.normal(0, 1, n)
    cuts = np.quantile(score, [0.2, 0.4, 0.6, 0.8])
    grade = 4 - np.searchsorted(cuts, score)
    return ring.astype(np.float32), grade.astype(np.int32)


Xtr, ytr = make_slates(N_TRAIN)
Xte, yte = make_slates(N_TEST)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
Xtr, ytr, Xte, yte = map(mx.array, (Xtr, ytr, Xte, yte))


@mx.custom_function
def sign_act(x):
    return mx.where(x >= 0, 1.0, -1.0)


@sign_act.vjp
def sign_act_vjp(x, cotangent, output):
    return cotangent * (mx.abs(x) <= 1.0)


class SignLinear(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.bw = mx.where(mx.random.normal((n_out, n_in)) >= 0, 1.0, -1.0)
        self.scale = 1.0 / np.sqrt(n_in)

    def __call__(self, x):
        return (x @ self.bw.T) * self.scale


class SlateNet(nn.Module):
    def __init__(self, width=128):
        super().__init__()
        self.stem = nn.Linear(D, width)
        self.bn0 = nn.BatchNorm(width)
        self.b1 = SignLinear(width, width)
        self.bn1 = nn.BatchNorm(width)
        self.b2 = SignLinear(width, width)
        self.bn2 = nn.BatchNorm(width)
        self.head = nn.Linear(width, K)

    def __call__(self, x):
        h = sign_act(self.bn0(self.stem(x)))
        h = sign_act(self.bn1(self.b1(h)))
        h = sign_act(self.bn2(self.b2(h)))
        return self.head(h)


class Bop(optim.Optimizer):
    """Helwegen et al. 2019: no latent weights, flip on strong consistent signal."""

    def __init__(self, gamma, threshold):
        super().__init__()
        self._maybe_schedule("gamma", gamma)
        self.threshold = threshold

    def init_single(self, parameter, state):
        state["m"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        g = self.state["gamma"].astype(gradient.dtype)
        m = (1 - g) * state["m"] + g * gradient
        state["m"] = m
        flip = (mx.abs(m) > self.threshold) & (mx.sign(m) == mx.sign(parameter))
        return mx.where(flip, -parameter, parameter)


mx.random.seed(3)
model = SlateNet()
mx.eval(model.parameters())

EPOCHS, BS = 15, 100
steps_per_epoch = N_TRAIN // BS
gamma = optim.step_decay(3e-2, 0.3, 5 * steps_per_epoch)
opt = optim.MultiOptimizer(
    [Bop(gamma=gamma, threshold=2e-5), optim.Adam(learning_rate=2e-3)],
    [lambda path, p: path.endswith(".bw")],
)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)


def binary_weights():
    return {k: v for k, v in tree_flatten(model.parameters()) if k.endswith(".bw")}


def evaluate():
    model.eval()
    logits = model(Xte)
    ce = nn.losses.cross_entropy(logits, yte, reduction="mean").item()
    acc = (mx.argmax(logits, axis=1) == yte).mean().item()
    model.train()
    return ce, acc


n_bin = sum(v.size for v in binary_weights().values())
print(f"slates: {N_TRAIN} train / {N_TEST} test, {D} ring bands, {K} grades (chance 20.0%)")
print(f"binary weights: {n_bin} entries, all +1/-1; float params elsewhere")
ce0, acc0 = evaluate()
print(f"untrained: test ce {ce0:.3f}  acc {100*acc0:.1f}%")
print()
print("=====  =========  ========  ========  ========  ======  =====")
print("epoch  gamma      flips     train ce  test ce   acc %   secs")
print("=====  =========  ========  ========  ========  ======  =====")

for epoch in range(1, EPOCHS + 1):
    t0 = time.perf_counter()
    before = {k: np.array(v) for k, v in binary_weights().items()}
    g_used = float(gamma(mx.array((epoch - 1) * steps_per_epoch)))
    perm = mx.array(np.random.default_rng(epoch).permutation(N_TRAIN))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    after = binary_weights()
    flips = sum(int((before[k] != np.array(after[k])).sum()) for k in before)
    ce, acc = evaluate()
    print(f"{epoch:5d}  {g_used:9.2e}  {flips:8d}  {tot/steps_per_epoch:8.4f}  "
          f"{ce:8.4f}  {100*acc:6.1f}  {time.perf_counter()-t0:5.2f}")
print("=====  =========  ========  ========  ========  ======  =====")

vals = np.concatenate([np.array(v).ravel() for v in binary_weights().values()])
print(f"binary weights still two-valued: {sorted(set(vals.tolist()))}")
ce, acc = evaluate()
print(f"final test: ce {ce:.4f}  acc {100*acc:.1f}%")
