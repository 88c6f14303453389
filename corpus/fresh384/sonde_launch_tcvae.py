# Radiosonde launch site: beta-TCVAE over 8-channel sounding summaries driven by
# three independent hidden causes (surface temperature, inversion height, humidity).
# Objective (Chen et al. 2018, minibatch-weighted sampling):
#   recon + MI + beta * TC + dimension-wise KL
# Stage A uses beta=1 (plain ELBO), stage B raises beta to 6 after a checkpoint/resume.
import math, os, json, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)
W = rng.normal(0, 1, (3, 8)).astype(np.float32)

def soundings(n):
    f = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    h = np.tanh(f @ W) + 0.3 * np.sin(2.0 * f[:, [0]]) * W[1] + 0.05 * rng.standard_normal((n, 8))
    return f, h.astype(np.float32)

f_tr, x_tr = soundings(6000)
f_te, x_te = soundings(1000)
m, s = x_tr.mean(0), x_tr.std(0)
x_tr = (x_tr - m) / s; x_te = (x_te - m) / s
N = len(x_tr)
SIG = 0.2
LOG2PI = math.log(2 * math.pi)

class TCVAE(nn.Module):
    def __init__(self, zd=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(8, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.mu = nn.Linear(48, zd)
        self.lv = nn.Linear(48, zd)
        self.dec = nn.Sequential(nn.Linear(zd, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, 8))
    def encode(self, x):
        h = self.enc(x)
        return self.mu(h), mx.clip(self.lv(h), -8, 4)

def log_normal(z, mu, lv):
    return -0.5 * (LOG2PI + lv + (z - mu) ** 2 * mx.exp(-lv))

def terms(model, x, eps):
    mu, lv = model.encode(x)
    z = mu + mx.exp(0.5 * lv) * eps
    xh = model.dec(z)
    recon = (0.5 * ((x - xh) / SIG) ** 2 + 0.5 * LOG2PI + math.log(SIG)).sum(-1).mean()
    M = x.shape[0]
    logqzx = log_normal(z, mu, lv).sum(-1)
    mat = log_normal(z[:, None, :], mu[None], lv[None])       # M x M x D
    logqz = mx.logsumexp(mat.sum(-1), axis=1) - math.log(N * M)
    logqz_prod = (mx.logsumexp(mat, axis=1) - math.log(N * M)).sum(-1)
    logpz = log_normal(z, mx.zeros_like(z), mx.zeros_like(z)).sum(-1)
    mi = (logqzx - logqz).mean()
    tc = (logqz - logqz_prod).mean()
    dkl = (logqz_prod - logpz).mean()
    return recon, mi, tc, dkl

def loss_fn(model, x, eps, beta):
    recon, mi, tc, dkl = terms(model, x, eps)
    return recon + mi + beta * tc + dkl, (recon, mi, tc, dkl)

def alignment(model, x, f):
    mu, _ = model.encode(mx.array(x))
    mu = np.array(mu)
    c = np.abs(np.corrcoef(np.concatenate([f, mu], 1).T)[:3, 3:])
    c = np.nan_to_num(c)
    srt = np.sort(c, axis=1)
    return float(srt[:, -1].mean()), float((srt[:, -1] - srt[:, -2]).mean()), int((mu.var(0) > 0.05).sum())

def heldout(model):
    eps = mx.array(np.random.default_rng(5).standard_normal((len(x_te), 4)).astype(np.float32))
    mu, _ = model.encode(mx.array(x_te))
    mse = float(((model.dec(mu) - mx.array(x_te)) ** 2).mean())
    r, mi, tc, dkl = terms(model, mx.array(x_te[:500]), eps[:500])
    return mse, float(r + mi + tc + dkl)

def log(**kv):
    print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in kv.items()))

BATCH = 128
sched_a = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 80), optim.cosine_decay(2e-3, 720, 4e-4)], [80])

def build(lr):
    mdl = TCVAE()
    o = optim.Adam(learning_rate=lr)
    return mdl, o

model, opt = build(sched_a)
mx.eval(model.parameters())
rand_a, rand_g, rand_k = alignment(model, x_te, f_te)
log(event="data", train=N, heldout=len(x_te), channels=8, latents=4, factors=3)
log(event="baseline", mean_predictor_mse=float((x_te ** 2).mean()), untrained_align=rand_a, untrained_gap=rand_g)

def run_stage(model, opt, name, beta, start, stop, t0):
    vg = nn.value_and_grad(model, loss_fn)
    perm, cur = rng.permutation(N), 0
    win = []
    for it in range(start, stop + 1):
        if cur + BATCH > N:
            perm, cur = rng.permutation(N), 0
        xb = mx.array(x_tr[perm[cur:cur + BATCH]]); cur += BATCH
        eps = mx.random.normal((BATCH, 4))
        lr_now = float(opt.learning_rate) if opt.state else 0.0
        (loss, aux), g = vg(model, xb, eps, mx.array(beta))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss, *aux)
        win.append([float(loss)] + [float(a) for a in aux])
        if it == start or it % 100 == 0:
            w = np.mean(win, 0); win = []
            extra = {}
            if it % 400 == 0:
                mse, nelbo = heldout(model)
                al, gap, act = alignment(model, x_te, f_te)
                extra = dict(te_mse=mse, te_neg_elbo=nelbo, align=al, align_gap=gap, active=act)
            log(stage=name, step=it, beta=float(beta), lr=lr_now, loss=float(w[0]), recon=float(w[1]),
                mi=float(w[2]), tc=float(w[3]), dimkl=float(w[4]), secs=float(time.time() - t0), **extra)

t0 = time.time()
log(event="stage", name="A", beta=1.0, steps="1-800")
run_stage(model, opt, "A", 1.0, 1, 800, t0)

ck = tempfile.mkdtemp()
model.save_weights(os.path.join(ck, "w.safetensors"))
mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
ref_mse, _ = heldout(model)
del model, opt
model, opt = build(optim.cosine_decay(1e-3, 800, 1e-4))
model.load_weights(os.path.join(ck, "w.safetensors"), strict=True)
st = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
st["step"] = mx.array(0, dtype=mx.uint64)
opt.state = st
chk_mse, _ = heldout(model)
log(event="resume", checkpoint=ck, heldout_mse_before=ref_mse, heldout_mse_after=chk_mse, identical=str(ref_mse == chk_mse))
log(event="stage", name="B", beta=6.0, steps="801-1600")
run_stage(model, opt, "B", 6.0, 801, 1600, t0)
mse, nelbo = heldout(model)
al, gap, act = alignment(model, x_te, f_te)
log(event="done", te_mse=mse, mean_predictor_mse=float((x_te ** 2).mean()), align=al, untrained_align=rand_a,
    align_gap=gap, active=act, secs=float(time.time() - t0))
