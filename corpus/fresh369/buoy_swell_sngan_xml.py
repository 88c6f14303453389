"""Mooring buoy swell simulator: hinge GAN with a spectrally normalised critic.

Learns the joint law of (peak hawser tension kN, buoy heave m) logged at an
offshore mooring under three sea states, so that synthetic load cases can be
drawn for fatigue studies.  The run is done in two sessions: the first one
writes its own checkpoint, the second one rebuilds everything and resumes.
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
Z = 4
BATCH = 128
TOTAL_STEPS = 1200
SESSION1_STEPS = 600
REPORT_EVERY = 200

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---- synthetic mooring log -------------------------------------------------
STATES = {
    "calm": (0.45, (42.0, 0.55), ((30.0, 1.1), (1.1, 0.06))),
    "moderate": (0.40, (88.0, 1.45), ((90.0, 3.2), (3.2, 0.16))),
    "storm": (0.15, (152.0, 2.85), ((260.0, 5.8), (5.8, 0.30))),
}


def sample_log(n):
    names = list(STATES)
    probs = np.array([STATES[k][0] for k in names])
    which = rng.choice(len(names), size=n, p=probs)
    out = np.empty((n, 2))
    for i, k in enumerate(names):
        m = which == i
        _, mean, cov = STATES[k]
        out[m] = rng.multivariate_normal(mean, cov, size=int(m.sum()))
    return out


train_raw = sample_log(12000)
hold_raw = sample_log(4000)
mu, sd = train_raw.mean(0), train_raw.std(0)
train = mx.array(((train_raw - mu) / sd).astype(np.float32))
hold = ((hold_raw - mu) / sd).astype(np.float32)
STORM_T = 125.0  # kN threshold used by the mooring engineers for storm loads


def energy_distance(a, b):
    def mean_dist(x, y):
        d = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))
        return d.mean()
    return 2 * mean_dist(a, b) - mean_dist(a, a) - mean_dist(b, b)


# ---- networks --------------------------------------------------------------
class SNLinear(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.lin = nn.Linear(din, dout)
        u = np.random.default_rng(din * 131 + dout).normal(size=(dout,))
        self._u = mx.array((u / np.linalg.norm(u)).astype(np.float32))

    def sigma(self):
        w = self.lin.weight
        u = mx.stop_gradient(self._u)
        v = w.T @ u
        v = mx.stop_gradient(v / (mx.linalg.norm(v) + 1e-12))
        return u @ (w @ v)

    def power_step(self):
        w = self.lin.weight
        v = w.T @ self._u
        v = v / (mx.linalg.norm(v) + 1e-12)
        u = w @ v
        self._u = u / (mx.linalg.norm(u) + 1e-12)

    def __call__(self, x):
        return (x @ self.lin.weight.T) / self.sigma() + self.lin.bias


class Critic(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.layers = [SNLinear(2, width), SNLinear(width, width), SNLinear(width, 1)]

    def __call__(self, x):
        for i, l in enumerate(self.layers):
            x = l(x)
            if i < len(self.layers) - 1:
                x = nn.leaky_relu(x, 0.2)
        return x.squeeze(-1)

    def power_step(self):
        for l in self.layers:
            l.power_step()

    def u_vectors(self):
        return {f"u{i}": l._u for i, l in enumerate(self.layers)}

    def set_u_vectors(self, d):
        for i, l in enumerate(self.layers):
            l._u = d[f"u{i}"]


class Generator(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(Z, width), nn.LeakyReLU(0.2),
            nn.Linear(width, width), nn.LeakyReLU(0.2),
            nn.Linear(width, 2),
        )

    def __call__(self, z):
        return self.net(z)


def build(seed):
    mx.random.seed(seed)
    G, D = Generator(), Critic()
    for _ in range(15):  # settle the power-iteration vectors before training
        D.power_step()
    opt_g = optim.Adam(learning_rate=optim.linear_schedule(0.0, 4e-4, 300), betas=[0.0, 0.9])
    opt_d = optim.Adam(learning_rate=4e-4, betas=[0.0, 0.9])
    mx.eval(G.parameters(), D.parameters(), D.u_vectors())
    return G, D, opt_g, opt_d


def d_loss_fn(D, real, fake):
    return nn.relu(1.0 - D(real)).mean() + nn.relu(1.0 + D(fake)).mean()


def g_loss_fn(G, D, z):
    return -D(G(z)).mean()


def run_steps(G, D, opt_g, opt_d, start, stop, log):
    d_vg = nn.value_and_grad(D, d_loss_fn)
    g_vg = nn.value_and_grad(G, lambda g, z: g_loss_fn(g, D, z))
    n = train.shape[0]
    d_hist, g_hist = [], []
    t0 = time.time()
    for step in range(start + 1, stop + 1):
        idx = mx.array(np.random.default_rng(SEED * 100003 + step).integers(0, n, BATCH))
        real = train[idx]
        z = mx.random.normal((BATCH, Z))
        fake = mx.stop_gradient(G(z))
        dl, dg = d_vg(D, real, fake)
        opt_d.update(D, dg)
        D.power_step()
        mx.eval(dl, D.parameters(), opt_d.state, D.u_vectors())

        z = mx.random.normal((BATCH, Z))
        lr_used = opt_g.learning_rate.item()
        gl, gg = g_vg(G, z)
        opt_g.update(G, gg)
        mx.eval(gl, G.parameters(), opt_g.state)
        d_hist.append(dl.item())
        g_hist.append(gl.item())

        if step == 1:
            nz_g = sum(int(mx.any(v != 0).item()) for _, v in tree_flatten(gg))
            nz_d = sum(int(mx.any(v != 0).item()) for _, v in tree_flatten(dg))
            log(f'<gradcheck step="1" lr_g="{lr_used:.2e}" g_leaves_nonzero="{nz_g}/{len(tree_flatten(gg))}" '
                f'd_leaves_nonzero="{nz_d}/{len(tree_flatten(dg))}"/>')
        if step % REPORT_EVERY == 0:
            zs = mx.random.normal((2000, Z))
            gen = np.array(G(zs))
            ed = energy_distance(gen, hold[:2000])
            gen_raw = gen * sd + mu
            storm = 100.0 * (gen_raw[:, 0] > STORM_T).mean()
            sig = [l.sigma().item() for l in D.layers]
            log(f'<tick step="{step}" lr_g="{lr_used:.2e}" d_hinge="{np.mean(d_hist):.3f}" '
                f'g_adv="{np.mean(g_hist):+.3f}" energy="{ed:.4f}" floor="{FLOOR:.4f}" '
                f'storm_pct="{storm:.1f}" ref_storm_pct="{REF_STORM:.1f}" '
                f'sn_sigma="{"/".join(f"{s:.2f}" for s in sig)}" secs="{time.time() - t0:.1f}"/>')
            d_hist, g_hist = [], []


def log(s):
    print(s, flush=True)


FLOOR = energy_distance(hold[:2000], hold[2000:4000])
REF_STORM = 100.0 * (hold_raw[:, 0] > STORM_T).mean()

log(f'<run seed="{SEED}" rows="{train.shape[0]}" held_out="{hold.shape[0]}" steps="{TOTAL_STEPS}" batch="{BATCH}"/>')
G, D, opt_g, opt_d = build(SEED)
start_ed = energy_distance(np.array(G(mx.random.normal((2000, Z)))), hold[:2000])
log(f'<baseline energy_at_init="{start_ed:.4f}" floor="{FLOOR:.4f}" ref_storm_pct="{REF_STORM:.1f}"/>')

# ---- session 1 -------------------------------------------------------------
run_steps(G, D, opt_g, opt_d, 0, SESSION1_STEPS, log)
ckpt = tempfile.mkdtemp("_buoy_ckpt")
G.save_weights(os.path.join(ckpt, "gen.safetensors"))
D.save_weights(os.path.join(ckpt, "critic.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "critic_u.safetensors"), D.u_vectors())
mx.save_safetensors(os.path.join(ckpt, "opt_g.safetensors"), dict(tree_flatten(opt_g.state)))
mx.save_safetensors(os.path.join(ckpt, "opt_d.safetensors"), dict(tree_flatten(opt_d.state)))
ref_g = {k: np.array(v) for k, v in tree_flatten(G.parameters())}
log(f'<checkpoint step="{SESSION1_STEPS}" files="{len(os.listdir(ckpt))}"/>')
del G, D, opt_g, opt_d

# ---- session 2 -------------------------------------------------------------
G, D, opt_g, opt_d = build(SEED + 1)
G.load_weights(os.path.join(ckpt, "gen.safetensors"))
D.load_weights(os.path.join(ckpt, "critic.safetensors"))
D.set_u_vectors(mx.load(os.path.join(ckpt, "critic_u.safetensors")))
opt_g.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt_g.safetensors")).items()))
opt_d.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt_d.safetensors")).items()))
mx.eval(G.parameters(), D.parameters(), opt_g.state, opt_d.state)
diff = max(float(np.abs(np.array(v) - ref_g[k]).max()) for k, v in tree_flatten(G.parameters()))
log(f'<resumed step="{int(opt_g.state["step"].item())}" max_weight_diff="{diff:.1e}" lr_g_next="{opt_g.learning_rate.item():.2e}"/>')
run_steps(G, D, opt_g, opt_d, SESSION1_STEPS, TOTAL_STEPS, log)
shutil.rmtree(ckpt)

gen = np.array(G(mx.random.normal((4000, Z)))) * sd + mu
log("<summary>")
log(f'  <col name="tension_kN" real_mean="{hold_raw[:, 0].mean():.1f}" gen_mean="{gen[:, 0].mean():.1f}" '
    f'real_sd="{hold_raw[:, 0].std():.1f}" gen_sd="{gen[:, 0].std():.1f}"/>')
log(f'  <col name="heave_m" real_mean="{hold_raw[:, 1].mean():.2f}" gen_mean="{gen[:, 1].mean():.2f}" '
    f'real_sd="{hold_raw[:, 1].std():.2f}" gen_sd="{gen[:, 1].std():.2f}"/>')
log(f'  <corr real="{np.corrcoef(hold_raw.T)[0, 1]:.3f}" gen="{np.corrcoef(gen.T)[0, 1]:.3f}"/>')
log("</summary>")
