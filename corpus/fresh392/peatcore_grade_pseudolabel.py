# Peat core lab: von Post humification grade (4 bands) from 6 core readings.
# Only 40 cores were graded by hand; 8000 more were measured but not graded.
# Pseudo-label training (Lee 2013): loss = CE(graded) + alpha(t) * CE(ungraded, own argmax),
# alpha = 0 until step T1, linear ramp to ALPHA_F at T2, then held.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
N_CLS, DIM = 4, 6
centres = rng.normal(0, 1, (N_CLS, 2)) * 2.2
mixer = rng.normal(0, 1, (2, DIM))


def cores(n):
    c = rng.integers(0, N_CLS, n)
    z = centres[c] + rng.normal(0, 0.75, (n, 2))
    x = np.tanh(z @ mixer * 0.6) * 2 + z @ mixer * 0.3 + rng.normal(0, 0.35, (n, DIM))
    return x.astype(np.float32), c.astype(np.int32)


xl, yl = cores(40)
xu, _ = cores(8000)
xt, yt = cores(2000)
mu, sd = xu.mean(0), xu.std(0)
XL, YL = mx.array((xl - mu) / sd), mx.array(yl)
XU = mx.array((xu - mu) / sd)
XT, YT = mx.array((xt - mu) / sd), mx.array(yt)

T1, T2, STEPS, ALPHA_F = 500, 1500, 2400, 3.0


def alpha_at(t, alpha_f):
    if t < T1:
        return 0.0
    if t < T2:
        return alpha_f * (t - T1) / (T2 - T1)
    return alpha_f


def make_net():
    return nn.Sequential(nn.Linear(DIM, 48), nn.ReLU(), nn.Dropout(0.2), nn.Linear(48, 48), nn.ReLU(),
                         nn.Linear(48, N_CLS))


def loss_fn(net, xl, yl, xu, alpha):
    ce_l = nn.losses.cross_entropy(net(xl), yl, reduction="mean")
    logits_u = net(xu)
    pseudo = mx.stop_gradient(mx.argmax(logits_u, axis=1))
    ce_u = nn.losses.cross_entropy(logits_u, pseudo, reduction="mean")
    return ce_l + alpha * ce_u, (ce_l, ce_u)


def test_acc(net):
    net.eval()
    a = (mx.argmax(net(XT), axis=1) == YT).astype(mx.float32).mean().item() * 100
    net.train()
    return a


def fit(tag, alpha_f, seed, verbose):
    mx.random.seed(seed)
    net = make_net()
    mx.eval(net.parameters())
    opt = optim.SGD(learning_rate=0.03, momentum=0.9, nesterov=True, weight_decay=5e-4)
    vg = nn.value_and_grad(net, loss_fn)
    win = []
    t0 = time.time()
    for t in range(1, STEPS + 1):
        a = alpha_at(t, alpha_f)
        ui = mx.array(rng.integers(0, XU.shape[0], 256))
        (tot, (cl, cu)), g = vg(net, XL, YL, XU[ui], mx.array(a, dtype=mx.float32))
        opt.update(net, g)
        mx.eval(net.parameters(), opt.state, tot, cl, cu)
        win.append((tot.item(), cl.item(), cu.item()))
        if verbose and (t == T1 or (t > T1 and t % 200 == 0)):
            w = np.array(win[-100:])
            print("%-10s step %4d  alpha %.2f  total %.4f  ce_graded %.4f  ce_pseudo %.4f  test_acc %5.1f%%  %4.1fs"
                  % (tag, t, a, w[:, 0].mean(), w[:, 1].mean(), w[:, 2].mean(), test_acc(net), time.time() - t0))
    return net


print("peat cores: %d graded, %d ungraded, %d test; grade shares in test %s"
      % (len(yl), len(xu), len(yt), np.round(np.bincount(yt, minlength=N_CLS) / len(yt) * 100, 1)))
print("majority-grade guess: %.1f%%" % (np.bincount(yt).max() / len(yt) * 100))
print("schedule: alpha 0 until step %d, ramp to %.1f by step %d, %d steps total" % (T1, ALPHA_F, T2, STEPS))

ref = fit("graded", 0.0, 5, False)
ref_acc = test_acc(ref)
print("graded-only reference (same net, same steps, alpha 0 throughout): test_acc %.1f%%" % ref_acc)

net = fit("pseudo", ALPHA_F, 5, True)
print("done: pseudo-label net %.1f%% vs graded-only %.1f%% vs majority %.1f%%"
      % (test_acc(net), ref_acc, np.bincount(yt).max() / len(yt) * 100))
