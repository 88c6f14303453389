"""Hazel-dormouse nest-box survey: Bayesian MLP with Flipout weight perturbations.

Each box check is classified as dormouse nest / other species (wood mouse, birds) / empty from
6 habitat readings. Weights are mean-field Gaussians (mu, softplus(rho)) with a N(0, 1) prior.

Stage A (epochs 1-4): means only. The rho tensors are frozen at a tiny sigma and the KL term
is off, which gives the means a deterministic-like warm start.
Stage B (epochs 5-18): rho unfrozen, full ELBO (NLL + KL / N) with a fresh Adam.
After epoch 11 the run writes a checkpoint, rebuilds model and optimizer from it and goes on.
"""
import math
import os
import shutil
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

# ---------------- synthetic survey ----------------
N_TRAIN, N_TEST, D, C = 6000, 1500, 6, 3
FEATURES = ["hazel_cover", "bramble", "canopy_gap", "box_height", "hedge_link", "box_age"]
W_true = rng.normal(0, 1.0, size=(D, C))
W_true[:, 0] += np.array([1.2, 0.8, -0.6, 0.5, 1.0, 0.0])


def logits_true(x):
    return x @ W_true + 0.7 * np.tanh(x[:, [0]] * x[:, [4]]) * np.array([1.0, -0.5, -0.5])


def sample(n):
    x = rng.standard_normal((n, D))
    p = np.exp(logits_true(x))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(C, p=pi) for pi in p])
    return x.astype(np.float32), y, p


x_tr, y_tr, p_tr = sample(N_TRAIN)
x_te, y_te, p_te = sample(N_TEST)
bayes_acc = float(np.mean(p_te.argmax(1) == y_te))
bayes_nll = float(-np.mean(np.log(p_te[np.arange(N_TEST), y_te])))
majority = float(np.mean(y_te == np.bincount(y_tr).argmax()))

X_tr, Y_tr = mx.array(x_tr), mx.array(y_tr)
X_te, Y_te = mx.array(x_te), mx.array(y_te)


class FlipoutLinear(nn.Module):
    def __init__(self, din, dout, rho0=-5.0):
        super().__init__()
        self.w_mu = mx.random.normal((din, dout)) * math.sqrt(1.0 / din)
        self.w_rho = mx.full((din, dout), rho0)
        self.b_mu = mx.zeros((dout,))
        self.b_rho = mx.full((dout,), rho0)

    def __call__(self, x):
        w_sd = nn.softplus(self.w_rho)
        b_sd = nn.softplus(self.b_rho)
        mean_out = x @ self.w_mu + self.b_mu
        # Flipout: one shared weight perturbation, decorrelated per example by random signs
        s_in = mx.where(mx.random.bernoulli(0.5, x.shape), 1.0, -1.0)
        s_out = mx.where(mx.random.bernoulli(0.5, mean_out.shape), 1.0, -1.0)
        dW = mx.random.normal(self.w_mu.shape) * w_sd
        db = mx.random.normal(self.b_mu.shape) * b_sd
        return mean_out + ((x * s_in) @ dW) * s_out + db

    def kl(self):
        total = 0.0
        for mu, rho in ((self.w_mu, self.w_rho), (self.b_mu, self.b_rho)):
            sd = nn.softplus(rho)
            total = total + mx.sum(-mx.log(sd) + 0.5 * (sd ** 2 + mu ** 2) - 0.5)
        return total


class BayesMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [FlipoutLinear(D, 48), FlipoutLinear(48, 48), FlipoutLinear(48, C)]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.gelu(layer(x))
        return self.layers[-1](x)

    def kl(self):
        return sum(layer.kl() for layer in self.layers)


def loss_fn(model, x, y, kl_weight):
    nll = mx.mean(nn.losses.cross_entropy(model(x), y))
    kl = model.kl()
    return nll + kl_weight * kl, (nll, kl)


def predictive(model, x, samples=12):
    probs = mx.mean(mx.stack([mx.softmax(model(x), axis=-1) for _ in range(samples)]), axis=0)
    return probs


def evaluate(model):
    p = predictive(model, X_te)
    acc = mx.mean(mx.argmax(p, axis=1) == Y_te).item()
    nll = -mx.mean(mx.log(p[mx.arange(N_TEST), Y_te] + 1e-9)).item()
    ent = mx.mean(-mx.sum(p * mx.log(p + 1e-9), axis=1)).item()
    return acc, nll, ent


def mean_sigma(model):
    sds = [nn.softplus(l.w_rho) for l in model.layers]
    return float(sum(mx.sum(s).item() for s in sds) / sum(s.size for s in sds))


model = BayesMLP()
mx.eval(model.parameters())
for layer in model.layers:
    layer.freeze(keys=["w_rho", "b_rho"])
opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)

BATCH, EPOCHS, STAGE_B, RESUME_AT = 200, 18, 5, 11
ckpt_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_dormouse_ckpt")

print(f"nest-box checks: {N_TRAIN} train / {N_TEST} test, features {FEATURES}")
print(f"reference: Bayes-optimal acc {bayes_acc:.3f}, Bayes NLL {bayes_nll:.3f}, majority-class acc {majority:.3f}")
print(f"stage A trainable: {sum(v.size for _, v in tree_flatten(model.trainable_parameters()))} numbers")

t0 = time.perf_counter()
for epoch in range(1, EPOCHS + 1):
    if epoch == STAGE_B:
        for layer in model.layers:
            layer.unfreeze(keys=["w_rho", "b_rho"])
        opt = optim.Adam(learning_rate=1e-2)
        print(f"-- stage B: rho unfrozen, KL weight 1/{N_TRAIN}, fresh Adam; "
              f"trainable {sum(v.size for _, v in tree_flatten(model.trainable_parameters()))} numbers")
    kl_w = 0.0 if epoch < STAGE_B else 1.0 / N_TRAIN
    perm = rng.permutation(N_TRAIN)
    tot = nll_sum = 0.0
    nb = 0
    for s in range(0, N_TRAIN, BATCH):
        idx = mx.array(perm[s:s + BATCH])
        (loss, (nll, kl)), grads = step_fn(model, X_tr[idx], Y_tr[idx], kl_w)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nll_sum += nll.item()
        nb += 1
    acc, tnll, ent = evaluate(model)
    print(f"epoch {epoch:2d}  objective {tot / nb:.4f}  nll {nll_sum / nb:.4f}  KL {model.kl().item():9.1f}  "
          f"mean_sigma {mean_sigma(model):.4f}  test_acc {acc:.3f}  test_nll {tnll:.4f}  "
          f"pred_entropy {ent:.3f}")

    if epoch == RESUME_AT:
        os.makedirs(ckpt_dir, exist_ok=True)
        model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        before = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
        model = BayesMLP()
        model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
        opt = optim.Adam(learning_rate=1e-2)
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        step_fn = nn.value_and_grad(model, loss_fn)
        diff = max(float(np.abs(before[k] - np.array(v)).max()) for k, v in tree_flatten(model.parameters()))
        print(f"-- checkpoint written and reloaded after epoch {epoch}; max parameter difference {diff:.1e}, "
              f"optimizer step {opt.state['step'].item()}")
        shutil.rmtree(ckpt_dir)

acc, tnll, ent = evaluate(model)
print(f"final: test acc {acc:.3f} (Bayes {bayes_acc:.3f}, majority {majority:.3f}); "
      f"test NLL {tnll:.4f} (Bayes {bayes_nll:.4f}); predictive entropy {ent:.3f}")
print(f"done in {time.perf_counter() - t0:.1f}s")
