# Surrogate for the Darcy friction factor (Colebrook-White), log the way journalctl does.
import time, os, socket, datetime
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(4)

def colebrook(re, rr, iters=40):
    x = np.full_like(re, 8.0)                    # x = 1/sqrt(f)
    for _ in range(iters):
        x = -2.0 * np.log10(rr / 3.7 + 2.51 * x / re)
    return 1.0 / x ** 2

def sample(n):
    log_re = rng.uniform(np.log10(4e3), np.log10(1e8), n)
    log_rr = rng.uniform(-6, -1.5, n)
    f = colebrook(10 ** log_re, 10 ** log_rr)
    X = np.stack([(log_re - 6.0) / 1.2, (log_rr + 3.75) / 1.3], -1)
    return mx.array(X.astype(np.float32)), mx.array(np.log(f).astype(np.float32)), f

Xtr, Ytr, _ = sample(12000)
Xte, Yte, fte = sample(3000)

net = nn.Sequential(nn.Linear(2, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, 1))
mx.eval(net.parameters())

def loss_fn(m, x, y):
    return mx.mean((m(x)[:, 0] - y) ** 2)      # squared error in log f ~ squared relative error

STEPS = 3600
sched = optim.join_schedules([optim.linear_schedule(1e-3, 0.05, 150),
                              optim.cosine_decay(0.05, STEPS - 150, 5e-4)], [150])
opt = optim.SGD(learning_rate=sched, momentum=0.9)
vg = nn.value_and_grad(net, loss_fn)

host = socket.gethostname().split('.')[0] or 'localhost'
pid = os.getpid()
def journal(msg, unit='friction-fit'):
    ts = datetime.datetime.now().strftime('%b %d %H:%M:%S')
    print(f'{ts} {host} {unit}[{pid}]: {msg}', flush=True)

journal('Starting friction-factor surrogate fit...', unit='systemd')
_, g = vg(net, Xtr[:256], Ytr[:256])
leaves = tree_flatten(g)
journal(f'gradient audit: {len(leaves)} leaves, zero={[k for k, v in leaves if not mx.any(v != 0).item()]}')
base = float(mx.mean((Yte - Ytr.mean()) ** 2))
journal(f'train={Xtr.shape[0]} test={Xte.shape[0]} constant-predictor log-mse={base:.4f}')

t0 = time.time(); ema = None; clipped = 0
for step in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, Xtr.shape[0], 128))
    loss, g = vg(net, Xtr[idx], Ytr[idx])
    g, gn = optim.clip_grad_norm(g, 1.0)
    opt.update(net, g)
    mx.eval(net.parameters(), opt.state, loss, gn)
    clipped += int(gn.item() > 1.0)
    ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
    if step % 300 == 0 or step == 1:
        pred = np.exp(np.array(net(Xte)[:, 0]))
        rel = np.abs(pred / fte - 1.0)
        journal(f'step={step} lr={opt.learning_rate.item():.4f} train_logmse_ema={ema:.2e} '
                f'test_mean_relerr={100*rel.mean():.3f}% test_max_relerr={100*rel.max():.2f}% '
                f'clipped={clipped} elapsed={time.time()-t0:.1f}s')
pred = np.exp(np.array(net(Xte)[:, 0]))
rel = np.abs(pred / fte - 1.0)
journal(f'within 1%: {100*np.mean(rel < 0.01):.1f}% of test points; within 2%: {100*np.mean(rel < 0.02):.1f}%')
journal('Finished friction-factor surrogate fit.', unit='systemd')
