import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_route_map(n):
    # towns on a plane, roads between near neighbours plus a spanning chain
    pos = rng.uniform(0, 1, (n, 2))
    edges = set()
    order = rng.permutation(n)
    for a, b in zip(order[:-1], order[1:]):
        edges.add((min(a, b), max(a, b)))
    d = ((pos[:, None] - pos[None]) ** 2).sum(-1)
    for i in range(n):
        for j in np.argsort(d[i])[1:3]:
            if rng.random() < 0.6:
                edges.add((min(i, j), max(i, j)))
    e = np.array(sorted(edges)).T
    src = np.concatenate([e[0], e[1]]); dst = np.concatenate([e[1], e[0]])
    adj = np.zeros((n, n), bool); adj[src, dst] = True
    two = (adj.astype(int) @ adj.astype(int) > 0) | adj
    np.fill_diagonal(two, False)
    deg = adj.sum(1)
    wells = rng.integers(0, 2, n).astype(np.float32)
    x = np.stack([np.ones(n), pos[:, 0], pos[:, 1], wells], 1).astype(np.float32)
    # towns reachable within two days' ride, weighted by wells along the way
    y = (two.sum(1) + 0.5 * (adj.astype(np.float32) @ wells)) / 4.0
    return x, src, dst, y.astype(np.float32), deg


def batch_maps(maps):
    xs, ss, ds, ys, gid = [], [], [], [], []
    off = 0
    for g, (x, s, d, y, _) in enumerate(maps):
        xs.append(x); ss.append(s + off); ds.append(d + off); ys.append(y)
        gid.append(np.full(len(x), g)); off += len(x)
    return (mx.array(np.concatenate(xs)), mx.array(np.concatenate(ss)),
            mx.array(np.concatenate(ds)), mx.array(np.concatenate(ys)),
            mx.array(np.concatenate(gid)), len(maps))


class GINLayer(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.eps = mx.zeros((1,))
        self.mlp = nn.Sequential(nn.Linear(din, dout), nn.SiLU(), nn.Linear(dout, dout))

    def __call__(self, h, src, dst):
        agg = mx.zeros_like(h).at[dst].add(h[src])
        return self.mlp((1 + self.eps) * h + agg)


class RouteNet(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.l1 = GINLayer(4, d)
        self.l2 = GINLayer(d, d)
        self.head = nn.Linear(2 * d, 1)

    def __call__(self, x, src, dst, gid, ng):
        h1 = nn.silu(self.l1(x, src, dst))
        h2 = nn.silu(self.l2(h1, src, dst))
        return self.head(mx.concatenate([h1, h2], 1)).squeeze(-1)


train = [make_route_map(int(rng.integers(8, 20))) for _ in range(600)]
valid = [make_route_map(int(rng.integers(8, 20))) for _ in range(120)]
vb = batch_maps(valid)
mean_guess = float(np.concatenate([m[3] for m in train]).mean())
base_mae = float(mx.abs(vb[3] - mean_guess).mean())

TOTAL, WARM, BS = 900, 150, 32
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, WARM),
                              optim.cosine_decay(3e-3, TOTAL - WARM, 1e-4)], [WARM])


def loss_fn(model, x, s, d, y, g, n):
    return nn.losses.mse_loss(model(x, s, d, g, n), y)


def build():
    m = RouteNet(); o = optim.Adam(learning_rate=sched)
    return m, o


model, opt = build()
ckdir = tempfile.mkdtemp(prefix="caravan_")
print("# caravan route maps: train 600, valid 120, towns 8-19 per map")
print(f"# valid MAE of always-guessing-the-mean: {base_mae:.4f}")
print("step\tlr\tlog10_mse\tvalid_mae\tnote")
t0 = time.time(); window = []
step = 0
while step < TOTAL:
    step += 1
    idx = rng.choice(len(train), BS, replace=False)
    x, s, d, y, g, n = batch_maps([train[i] for i in idx])
    lval, grads = nn.value_and_grad(model, loss_fn)(model, x, s, d, y, g, n)
    if step == 1:
        gn = [float(mx.abs(v).sum()) for _, v in tree_flatten(grads)]
        print(f"# step 1 gradient leaves {len(gn)}, zero-sum leaves {sum(v == 0 for v in gn)}")
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, lval)
    window.append(float(lval))
    note = ""
    if step == 450:
        model.save_weights(os.path.join(ckdir, "w.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "o.safetensors"), dict(tree_flatten(opt.state)))
        model, opt = build()
        model.load_weights(os.path.join(ckdir, "w.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "o.safetensors")).items()))
        note = "checkpoint written and reloaded"
    if step % 75 == 0 or step == 1:
        pv = model(vb[0], vb[1], vb[2], vb[4], vb[5])
        vmae = float(mx.abs(pv - vb[3]).mean())
        lr = float(opt.learning_rate) if step != 450 else float(sched(mx.array(step)))
        print(f"{step}\t{lr:.2e}\t{np.log10(np.mean(window)):.3f}\t{vmae:.4f}\t{note}")
        window = []
pv = model(vb[0], vb[1], vb[2], vb[4], vb[5])
vmae = float(mx.abs(pv - vb[3]).mean())
print(f"# done in {time.time() - t0:.1f}s: valid MAE {vmae:.4f} vs mean-guess {base_mae:.4f} ({100 * vmae / base_mae:.1f}% of it)")
