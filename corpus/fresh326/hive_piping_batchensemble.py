# Apiary hive-state classifier: BatchEnsemble (rank-1 fast weights, 4 members)
# trained on synthetic sensor sheets; reports ensemble NLL, accuracy, ECE and
# how well predictive entropy separates readings from an unseen sensor model.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)
M = 4          # ensemble members
C = 3          # calm / swarming-prep / queenless

def make_hives(n, shift=0.0):
    temp = rng.normal(34.5, 1.2, n) + shift * 4.0        # brood temperature C
    hum = rng.normal(62, 6, n) - shift * 15.0            # humidity %
    freq = rng.normal(250, 30, n) + shift * 120.0        # hum frequency Hz
    dweight = rng.normal(0.2, 0.4, n)                    # kg/day
    entr = rng.gamma(3.0, 20.0, n)                       # entrance traffic /min
    piping = rng.beta(1.5, 6.0, n)                       # queen-piping share
    score_swarm = 0.045 * (freq - 250) + 2.2 * (piping - 0.2) * 5 + 0.6 * (temp - 34.5)
    score_queenless = -0.05 * (freq - 250) * 0.3 + 0.08 * (hum - 62) - 1.5 * dweight + 0.01 * (entr - 60)
    logits = np.stack([np.zeros(n), score_swarm - 1.0, score_queenless - 1.0], 1)
    p = np.exp(logits - logits.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(C, p=pi) for pi in p])
    X = np.stack([temp, hum, freq, dweight, entr, piping], 1)
    return X.astype(np.float32), y.astype(np.int32)

Xtr, ytr = make_hives(6000)
Xte, yte = make_hives(1500)
Xood, _ = make_hives(1500, shift=1.0)
mu, sd = Xtr.mean(0), Xtr.std(0)
norm = lambda X: mx.array((X - mu) / sd)
Xtr_m, ytr_m, Xte_m, yte_m, Xood_m = norm(Xtr), mx.array(ytr), norm(Xte), mx.array(yte), norm(Xood)

class BELinear(nn.Module):
    def __init__(self, din, dout, members):
        super().__init__()
        lim = (1.0 / din) ** 0.5
        self.weight = mx.random.uniform(-lim, lim, (din, dout))
        self.r = 1.0 + 0.5 * mx.random.normal((members, din)) * 0.1 * 5
        self.s = 1.0 + 0.5 * mx.random.normal((members, dout)) * 0.1 * 5
        self.bias = mx.zeros((members, dout))
    def __call__(self, x):                      # x: (M, B, din)
        h = (x * self.r[:, None, :]) @ self.weight
        return h * self.s[:, None, :] + self.bias[:, None, :]

class HiveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = BELinear(6, 64, M)
        self.l2 = BELinear(64, 64, M)
        self.l3 = BELinear(64, C, M)
    def __call__(self, x):                      # x: (B, 6) -> (M, B, C)
        h = mx.broadcast_to(x[None], (M,) + x.shape)
        h = nn.gelu(self.l1(h))
        h = nn.gelu(self.l2(h))
        return self.l3(h)

def loss_fn(model, x, y):
    logits = model(x)
    yy = mx.broadcast_to(y[None], (M, y.shape[0]))
    return nn.losses.cross_entropy(logits, yy, reduction="mean")

STEPS, WARM, BS, PEAK = 1600, 120, 128, 4e-3
def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, STEPS - WARM, 1e-5)], [WARM])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)

def metrics(model):
    probs_m = mx.softmax(model(Xte_m), axis=-1)           # (M, N, C)
    p = probs_m.mean(0)
    nll = -mx.log(mx.take_along_axis(p, yte_m[:, None], 1) + 1e-12).mean().item()
    pn = np.array(p)
    conf, pred = pn.max(1), pn.argmax(1)
    acc = (pred == yte).mean()
    bins = np.linspace(0, 1, 11); ece = 0.0
    for lo, hi in zip(bins[:-1], bins[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs((pred[m] == yte[m]).mean() - conf[m].mean())
    # member disagreement: mean KL(member || ensemble)
    pm = np.array(probs_m)
    dis = (pm * (np.log(pm + 1e-12) - np.log(pn[None] + 1e-12))).sum(-1).mean()
    ent_in = -(pn * np.log(pn + 1e-12)).sum(1)
    po = np.array(mx.softmax(model(Xood_m), axis=-1).mean(0))
    ent_out = -(po * np.log(po + 1e-12)).sum(1)
    # AUROC via rank statistic
    allv = np.concatenate([ent_in, ent_out]); ranks = allv.argsort().argsort() + 1
    auroc = (ranks[len(ent_in):].sum() - len(ent_out) * (len(ent_out) + 1) / 2) / (len(ent_in) * len(ent_out))
    return nll, acc, ece, dis, auroc

prior = np.bincount(ytr, minlength=C) / len(ytr)
base_nll = -np.log(prior[yte]).mean()
print(f"apiary: train {len(ytr)} test {len(yte)} unseen-sensor {len(Xood)} | class shares {np.round(prior, 3).tolist()} | prior-only NLL {base_nll:.4f}")

model = HiveNet(); mx.eval(model.parameters())
opt = make_opt()
vg = nn.value_and_grad(model, loss_fn)

l0, g0 = vg(model, Xtr_m[:BS], ytr_m[:BS])
flat = tree_flatten(g0)
print("grad audit: " + ", ".join(f"{k}={mx.abs(v).mean().item():.2e}" for k, v in flat[:4]) + f" ... ({len(flat)} leaves, all finite={all(bool(mx.isfinite(v).all().item()) for _, v in flat)})")

ckdir = tempfile.mkdtemp()
REPORT = {0, 40, 80, 120, 800, 1000, 1200, 1400, 1599}
t0 = time.time(); step = 0; run_loss = []
perm = rng.permutation(len(ytr)); pos = 0
while step < STEPS:
    if pos + BS > len(perm):
        perm = rng.permutation(len(ytr)); pos = 0
    idx = mx.array(perm[pos:pos + BS]); pos += BS
    lr_now = float(opt.learning_rate) if step > 0 else 0.0
    loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run_loss.append(loss.item())
    if step == STEPS // 2:
        model.save_weights(os.path.join(ckdir, "hive.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        print(f"-- checkpoint at step {step}; rebuilding model and optimizer from {os.path.basename(ckdir)}/")
        model = HiveNet(); model.load_weights(os.path.join(ckdir, "hive.safetensors"))
        opt = make_opt(); opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
        vg = nn.value_and_grad(model, loss_fn)
        mx.eval(model.parameters(), opt.state)
        print(f"-- resumed: optimizer step counter {opt.step.item()}, lr {float(opt.learning_rate):.2e}")
    if step in REPORT:
        nll, acc, ece, dis, auroc = metrics(model)
        print(f"step={step:4d}; lr={lr_now:.2e}; batch_ce={np.mean(run_loss[-40:]):.4f}; test_nll={nll:.4f}; "
              f"acc={acc*100:.1f}%; ece={ece:.3f}; member_kl={dis:.4f}; unseen_auroc={auroc:.3f}; t={time.time()-t0:.1f}s")
    step += 1

nll, acc, ece, dis, auroc = metrics(model)
print(f"final; test_nll={nll:.4f} (prior-only {base_nll:.4f}); acc={acc*100:.1f}%; ece={ece:.3f}; unseen_auroc={auroc:.3f}; members={M}")
