# Saddlery workshop: predict seam pull-out strength (N) of a hand-stitched
# leather seam from bench measurements. Functional MLP, per-example gradients
# with mx.vmap, a custom activation carrying its own vjp AND its own vmap rule,
# and a running estimate of the gradient noise scale (B_simple).
import time
import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(11)
N_TRAIN, N_TEST, D = 6000, 1500, 6

def make(n):
    spi = rng.uniform(5, 10, n)          # stitches per inch
    thread = rng.uniform(0.4, 1.0, n)    # thread gauge mm
    thick = rng.uniform(2.0, 5.0, n)     # leather thickness mm
    wax = rng.integers(0, 2, n)          # waxed thread flag
    edge = rng.uniform(3, 8, n)          # stitch line distance from edge mm
    age = rng.uniform(0, 20, n)          # hide age months
    s = (40 * thread * np.sqrt(thick) + 6 * spi - 0.35 * (spi - 7.5) ** 2 * 8
         + 18 * wax + 25 * np.tanh((edge - 3) / 2) - 0.6 * age)
    y = s + rng.normal(0, 6.0, n)
    X = np.stack([spi, thread, thick, wax, edge, age], 1)
    return X.astype(np.float32), y.astype(np.float32)

Xtr, ytr = make(N_TRAIN); Xte, yte = make(N_TEST)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
Xtr_m, ytr_m = mx.array(Xtr), mx.array((ytr - ym) / ys)
Xte_m = mx.array(Xte)

calls = {"vmap_rule": 0}

@mx.custom_function
def softclip_act(x):
    # x / (1 + |x|): bounded, smooth except at 0
    return x / (1 + mx.abs(x))

@softclip_act.vjp
def softclip_vjp(primals, cotangent, output):
    x = primals[0] if isinstance(primals, (list, tuple)) else primals
    return cotangent / mx.square(1 + mx.abs(x))

@softclip_act.vmap
def softclip_vmap(inputs, axes):
    calls["vmap_rule"] += 1
    x = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
    ax = axes[0] if isinstance(axes, (list, tuple)) else axes
    return x / (1 + mx.abs(x)), ax

def init(key):
    k = mx.random.split(key, 3)
    def lin(kk, i, o):
        return {"w": mx.random.normal((i, o), key=kk) * (1.0 / i) ** 0.5,
                "b": mx.zeros((o,))}
    return {"l1": lin(k[0], D, 48), "l2": lin(k[1], 48, 48), "out": lin(k[2], 48, 1)}

def forward(p, x):
    h = softclip_act(x @ p["l1"]["w"] + p["l1"]["b"])
    h = h + softclip_act(h @ p["l2"]["w"] + p["l2"]["b"])
    return (h @ p["out"]["w"] + p["out"]["b"]).squeeze(-1)

def example_loss(p, x, y):
    return mx.square(forward(p, x[None])[0] - y)

per_example = mx.vmap(mx.grad(example_loss), in_axes=(None, 0, 0))

@mx.compile
def grads_and_stats(p, xb, yb):
    g = per_example(p, xb, yb)
    gmean = tree_map(lambda a: a.mean(0), g)
    sq_mean_norm = sum((a ** 2).sum() for _, a in tree_flatten(gmean))
    mean_sq_norm = sum((a ** 2).sum() / a.shape[0] for _, a in tree_flatten(g))
    loss = mx.square(forward(p, xb) - yb).mean()
    return loss, gmean, sq_mean_norm, mean_sq_norm

# reference check of the hand-written vjp against finite differences
xc = mx.array(np.linspace(-3.1, 2.9, 13).astype(np.float32))
g_hand = mx.grad(lambda v: softclip_act(v).sum())(xc)
eps = 1e-3
g_fd = ((xc + eps) / (1 + mx.abs(xc + eps)) - (xc - eps) / (1 + mx.abs(xc - eps))) / (2 * eps)
print(f"activation vjp check: max |hand - fd| = {mx.abs(g_hand - g_fd).max().item():.2e}")

params = init(mx.random.key(3))
opt = optim.SGD(learning_rate=optim.cosine_decay(0.05, 1800, 0.002), momentum=0.9)
state = opt.init(params)

B, EPOCHS = 64, 20
steps_per_epoch = N_TRAIN // B
print(f"train rows {N_TRAIN}  test rows {N_TEST}  noise sd 6.0 N  predict-mean test RMSE {np.std(yte - ym):.2f} N")
print("epoch | train mse(std) | test RMSE N | B_simple | lr      | sec")
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = np.random.default_rng(ep).permutation(N_TRAIN)
    tot = 0.0
    sum_s = sum_g = 0.0
    for i in range(steps_per_epoch):
        idx = mx.array(perm[i * B:(i + 1) * B])
        loss, g, gsq, msq = grads_and_stats(params, Xtr_m[idx], ytr_m[idx])
        if ep == 1 and i == 0:
            leaves = tree_flatten(g)
            nz = sum(int(mx.abs(a).max().item() > 0) for _, a in leaves)
            print(f"first step: {nz}/{len(leaves)} gradient leaves non-zero, vmap rule used {calls['vmap_rule']}x")
        params = opt.apply_gradients(g, params)
        mx.eval(params, opt.state, loss, gsq, msq)
        # unbiased |G|^2 and tr(Sigma) estimates (McCandlish et al. 2018)
        trS = (msq.item() - gsq.item()) * B / (B - 1)
        G2 = gsq.item() - trS / B
        sum_s += trS
        sum_g += gsq.item()
        tot += loss.item()
    pred = forward(params, Xte_m) * ys + ym
    rmse = float(np.sqrt(np.mean((np.array(pred) - yte) ** 2)))
    bs = sum_s / max(sum_g, 1e-12)
    print(f"{ep:5d} | {tot / steps_per_epoch:14.4f} | {rmse:11.2f} | {bs:8.1f} | {opt.learning_rate.item():.5f} | {time.time() - t0:4.1f}")
print(f"done: test RMSE {rmse:.2f} N against a 6.0 N noise floor")
