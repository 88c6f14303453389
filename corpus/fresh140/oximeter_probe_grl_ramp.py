# Pulse-oximeter probe transfer: a 3-way desaturation-severity classifier
# (normal / mild / severe) is trained on labelled FINGERTIP probe recordings
# and adapted to UNLABELLED EARLOBE probe recordings (different gain, offset,
# more motion noise) with a gradient-reversal layer (Ganin & Lempitsky 2015).
# The reversal strength lambda starts at exactly 0 and ramps up, so the
# domain-critic loss first falls, then RISES as the features are pushed to
# fool it.  Earlobe labels are only used for the audit column.
import math, time, sys
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
F = 9

def recordings(n, probe):
    sev = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    spo2 = np.where(sev == 0, rng.normal(97, 1.2, n), np.where(sev == 1, rng.normal(91, 1.8, n), rng.normal(84, 3, n)))
    ratio_r = 0.4 + (100 - spo2) * 0.025 + rng.normal(0, 0.03, n)        # red/IR ratio-of-ratios
    hr = rng.normal(75, 12, n) + (100 - spo2) * 0.8
    perf = rng.lognormal(0.5, 0.5, n)
    pleth_amp = perf * (1.0 - 0.01 * (100 - spo2)) + rng.normal(0, 0.1, n)
    resp = rng.normal(15, 3, n) + (sev == 2) * 5
    x = np.stack([ratio_r, hr, perf, pleth_amp, resp,
                  rng.normal(0, 1, n), rng.normal(0, 1, n),
                  ratio_r * hr / 75, rng.normal(0, 1, n)], 1)
    if probe == "ear":
        x = x * np.array([1.25, 1, 0.45, 0.5, 1, 1, 1, 1.25, 1]) + np.array([-0.12, 4, 0.2, 0.1, 0, 0.8, -0.6, -0.1, 0])
        x[:, [0, 3, 7]] += rng.normal(0, 0.06, (n, 3))                  # motion artefact
    return x.astype(np.float32), sev.astype(np.int32)

xs, ys = recordings(5000, "finger")
xt, yt_hidden = recordings(5000, "ear")
xt_test, yt_test = recordings(2000, "ear")
mu, sd = xs.mean(0), xs.std(0)                                       # source statistics only
nrm = lambda a: mx.array((a - mu) / sd)
Xs, Ys, Xt, Xtt, Ytt = nrm(xs), mx.array(ys), nrm(xt), nrm(xt_test), mx.array(yt_test)

@mx.custom_function
def grad_reverse(x, lam):
    return x

@grad_reverse.vjp
def grad_reverse_vjp(primals, cotangent, output):
    _, lam = primals
    return -lam * cotangent, mx.zeros_like(lam)

class DANN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(F, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.label_head = nn.Linear(32, 3)
        self.critic = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))

    def __call__(self, x, lam):
        h = self.features(x)
        return self.label_head(h), self.critic(grad_reverse(h, lam)).squeeze(-1)

def losses(model, xs, ys, xt, lam):
    cls_s, dom_s = model(xs, lam)
    _, dom_t = model(xt, lam)
    l_cls = nn.losses.cross_entropy(cls_s, ys, reduction="mean")
    dom = mx.concatenate([dom_s, dom_t])
    tgt = mx.concatenate([mx.zeros(dom_s.shape), mx.ones(dom_t.shape)])
    l_dom = nn.losses.binary_cross_entropy(dom, tgt, with_logits=True, reduction="mean")
    return l_cls + l_dom, (l_cls, l_dom)

model = DANN()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.01, momentum=0.9)
vg = nn.value_and_grad(model, losses)

def acc(x, y):
    return (mx.argmax(model(x, mx.array(0.0))[0], -1) == y).mean().item() * 100

STEPS, BS, PRINT = 1500, 64, 150
bar_w = 20
t0 = time.time()
run_cls = run_dom = 0.0
for step in range(STEPS + 1):
    p = step / STEPS
    lam = 2.0 / (1.0 + math.exp(-10 * p)) - 1.0                   # 0.0 at step 0
    opt.learning_rate = 0.01 / (1 + 10 * p) ** 0.75
    i = rng.integers(0, Xs.shape[0], BS); j = rng.integers(0, Xt.shape[0], BS)
    (loss, (lc, ld)), g = vg(model, Xs[mx.array(i)], Ys[mx.array(i)], Xt[mx.array(j)], mx.array(lam))
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    run_cls = 0.95 * run_cls + 0.05 * lc.item() if step else lc.item()
    run_dom = 0.95 * run_dom + 0.05 * ld.item() if step else ld.item()
    if step % PRINT == 0:
        done = int(bar_w * p)
        el = time.time() - t0
        sys.stdout.write(f"adapt {100*p:5.1f}%|{'#'*done}{' '*(bar_w-done)}| {step}/{STEPS} "
                         f"[{el:4.1f}s, {step/max(el,1e-9):5.1f}it/s, cls={run_cls:.3f}, dom={run_dom:.3f}, "
                         f"lam={lam:.3f}, lr={opt.learning_rate.item():.4f}]\n")

src_acc = acc(Xs, Ys)
_, d_s = model(Xs, mx.array(0.0)); _, d_t = model(Xtt, mx.array(0.0))
dom_acc = 50 * ((d_s < 0).mean().item() + (d_t > 0).mean().item())
print()
print("probe     | acc %   | note")
print("----------+---------+---------------------------------")
print(f"finger    | {src_acc:6.2f}  | labelled source")
print(f"earlobe   | {acc(Xtt, Ytt):6.2f}  | held-out target, labels unseen")
print(f"critic    | {dom_acc:6.2f}  | domain guess, chance = 50")
print(f"majority  | {100*np.mean(yt_test == 0):6.2f}  | always 'normal'")
