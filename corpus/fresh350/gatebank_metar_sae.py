import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

D, N_ATOMS, M = 16, 32, 64
atoms = rng.normal(size=(N_ATOMS, D)).astype(np.float32)
atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
offset = (0.8 * rng.normal(size=(D,))).astype(np.float32)
freq = np.linspace(0.04, 0.14, N_ATOMS)


def sample(n):
    on = rng.random((n, N_ATOMS)) < freq
    mag = rng.exponential(1.0, size=(n, N_ATOMS)) + 0.5
    codes = (on * mag).astype(np.float32)
    x = codes @ atoms + offset + 0.03 * rng.normal(size=(n, D)).astype(np.float32)
    return x.astype(np.float32)


class GatedSAE(nn.Module):
    def __init__(self, d, m):
        super().__init__()
        w = mx.random.normal((m, d))
        w = w / mx.linalg.norm(w, axis=1, keepdims=True)
        self.W_dec = w
        self.W_gate = w.T * 1.0
        self.b_gate = mx.zeros((m,))
        self.r_mag = mx.zeros((m,))
        self.b_mag = mx.zeros((m,))
        self.b_dec = mx.zeros((d,))

    def pre(self, x):
        return (x - self.b_dec) @ self.W_gate

    def __call__(self, x):
        h = self.pre(x)
        pi_gate = h + self.b_gate
        open_ = (pi_gate > 0).astype(x.dtype)
        f_mag = nn.relu(h * mx.exp(self.r_mag) + self.b_mag)
        f = open_ * f_mag
        x_hat = f @ self.W_dec + self.b_dec
        return x_hat, f, pi_gate


def objective(model, x, lam):
    x_hat, f, pi_gate = model(x)
    recon = mx.mean(mx.sum((x - x_hat) ** 2, axis=1))
    dec_norm = mx.linalg.norm(model.W_dec, axis=1)
    g = nn.relu(pi_gate)
    sparsity = mx.mean(mx.sum(g * dec_norm, axis=1))
    aux_hat = g @ mx.stop_gradient(model.W_dec) + mx.stop_gradient(model.b_dec)
    aux = mx.mean(mx.sum((x - aux_hat) ** 2, axis=1))
    return recon + lam * sparsity + aux, (recon, sparsity, aux)


model = GatedSAE(D, M)
x_bias = sample(4096)
model.b_dec = mx.array(np.median(x_bias, axis=0))
STEPS, WARM, LAM_MAX, LAM_RAMP = 2400, 60, 3.0, 400
opt = optim.Adam(learning_rate=0.0)
loss_grad = nn.value_and_grad(model, lambda mdl, x, lam: objective(mdl, x, lam)[0])

x_val = mx.array(sample(2048))
xv_np = np.array(x_val)
var_val = float(np.mean(np.sum((xv_np - xv_np.mean(0)) ** 2, axis=1)))


def pca_fvu(k):
    c = xv_np - xv_np.mean(0)
    _, s, _ = np.linalg.svd(c, full_matrices=False)
    return float(np.sum(s[k:] ** 2) / np.sum(s ** 2))


def atoms_found():
    W = np.array(model.W_dec)
    W = W / (np.linalg.norm(W, axis=1, keepdims=True) + 1e-8)
    cos = np.abs(atoms @ W.T).max(axis=1)
    return int((cos > 0.9).sum())


fired_since = np.zeros(M, dtype=np.int64)
t0 = time.time()
print("METAR SAE gated d16 m64 atoms32 -- dictionary station report")
for step in range(1, STEPS + 1):
    lr = 2e-3 * min(1.0, (step - 1) / WARM)
    opt.learning_rate = lr
    lam = LAM_MAX * min(1.0, (step - 1) / LAM_RAMP)
    xb = mx.array(sample(256))
    loss, grads = loss_grad(model, xb, lam)
    opt.update(model, grads)
    W = model.W_dec
    model.W_dec = W / mx.maximum(mx.linalg.norm(W, axis=1, keepdims=True), 1e-6)
    mx.eval(model.parameters(), opt.state, loss)
    _, fb, _ = model(xb)
    active = np.array(mx.sum(fb > 0, axis=0)) > 0
    fired_since = np.where(active, 0, fired_since + 1)

    remark = ""
    if step in (800, 1600):
        dead = np.where(fired_since >= 250)[0]
        if len(dead) > 0:
            xr = mx.array(sample(2048))
            xh, _, _ = model(xr)
            err = np.array(mx.sum((xr - xh) ** 2, axis=1))
            p = err / err.sum()
            pick = rng.choice(len(err), size=len(dead), p=p)
            resid = np.array(xr)[pick] - np.array(model.b_dec)
            resid /= np.linalg.norm(resid, axis=1, keepdims=True) + 1e-8
            Wd = np.array(model.W_dec)
            Wg = np.array(model.W_gate)
            bg = np.array(model.b_gate)
            rm = np.array(model.r_mag)
            bm = np.array(model.b_mag)
            alive_norm = np.linalg.norm(Wg[:, fired_since < 250], axis=0).mean() if (fired_since < 250).any() else 1.0
            Wd[dead] = resid
            Wg[:, dead] = (resid * 0.2 * alive_norm).T
            bg[dead] = 0.0
            rm[dead] = 0.0
            bm[dead] = 0.0
            model.W_dec, model.W_gate = mx.array(Wd), mx.array(Wg)
            model.b_gate, model.r_mag, model.b_mag = mx.array(bg), mx.array(rm), mx.array(bm)
            opt.state = {}
            opt.init(model.trainable_parameters())
            fired_since[dead] = 0
        remark = f" RMK RESAMPLE {len(dead)} LATENTS"

    if step == 1 or step % 150 == 0 or remark:
        xh, fv, _ = model(x_val)
        fvu = float(mx.mean(mx.sum((x_val - xh) ** 2, axis=1))) / var_val
        l0 = float(mx.mean(mx.sum(fv > 0, axis=1)))
        k = max(1, int(round(l0)))
        dead_n = int((fired_since >= 250).sum())
        print(f"SAE {step:04d}Z LR{lr:.4f} LAM{lam:.3f} OBJ{float(loss):07.4f} "
              f"FVU{fvu:.3f} PCA{k}/{pca_fvu(k):.3f} L0/{l0:.2f} DEAD{dead_n:02d} "
              f"ATOM{atoms_found():02d}/32{remark}")

xh, fv, _ = model(x_val)
fvu = float(mx.mean(mx.sum((x_val - xh) ** 2, axis=1))) / var_val
l0 = float(mx.mean(mx.sum(fv > 0, axis=1)))
print(f"FINAL FVU {fvu:.3f} L0 {l0:.2f} PCA-at-same-L0 {pca_fvu(max(1, int(round(l0)))):.3f} "
      f"atoms {atoms_found()}/32 time {time.time() - t0:.1f}s")
