"""Estuary channel networks: salinity (psu) at each junction from local readings
and its neighbours. GraphSAGE-style mean aggregation over an edge list, many
small graphs stacked as one disjoint union with node offsets."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_network(n):
    # random tree (channel splits) plus a few cross-channels
    parent = [-1] + [int(rng.integers(0, i)) for i in range(1, n)]
    edges = [(i, parent[i]) for i in range(1, n)]
    for _ in range(n // 6):
        a, b = rng.integers(0, n, 2)
        if a != b:
            edges.append((int(a), int(b)))
    depth = np.zeros(n)
    for i in range(1, n):
        depth[i] = depth[parent[i]] + 1
    tide = rng.uniform(0.5, 2.0)
    flow = rng.uniform(0.2, 1.5, n)
    width = rng.uniform(0.3, 1.0, n)
    # diffusion-like made-up law: sea at the root, fresh water pushes it back
    sal = np.zeros(n)
    base = 30.0 * tide / (1.0 + depth * (0.4 + 0.5 * flow))
    sal[:] = base
    nbr = [[] for _ in range(n)]
    for a, b in edges:
        nbr[a].append(b)
        nbr[b].append(a)
    for _ in range(3):
        sal = 0.6 * sal + 0.4 * np.array([np.mean(sal[v]) for v in nbr])
    sal = sal * (0.8 + 0.4 * width) + rng.normal(0, 0.8, n)
    feats = np.stack([depth / 6.0, flow, width, np.full(n, tide),
                      rng.normal(0, 1, n)], 1)
    und = np.array(edges + [(b, a) for a, b in edges], dtype=np.int32)
    return feats.astype(np.float32), und, sal.astype(np.float32)


def union(graphs):
    xs, es, ys, off = [], [], [], 0
    for x, e, y in graphs:
        xs.append(x); es.append(e + off); ys.append(y); off += len(x)
    return (mx.array(np.concatenate(xs)), mx.array(np.concatenate(es)),
            mx.array(np.concatenate(ys)))


class SageLayer(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.self_lin = nn.Linear(din, dout)
        self.nbr_lin = nn.Linear(din, dout, bias=False)

    def __call__(self, h, src, dst, inv_deg):
        agg = mx.zeros_like(h).at[dst].add(h[src]) * inv_deg
        return self.self_lin(h) + self.nbr_lin(agg)


class EstuaryNet(nn.Module):
    def __init__(self, din=5, hid=48):
        super().__init__()
        self.layers = [SageLayer(din, hid), SageLayer(hid, hid), SageLayer(hid, hid)]
        self.head = nn.Linear(hid, 1)

    def __call__(self, x, e):
        src, dst = e[:, 0], e[:, 1]
        deg = mx.zeros((x.shape[0],)).at[dst].add(1.0)
        inv_deg = (1.0 / mx.maximum(deg, 1.0))[:, None]
        h = x
        for layer in self.layers:
            h = nn.silu(layer(h, src, dst, inv_deg))
        return self.head(h).squeeze(-1)


train_graphs = [make_network(int(rng.integers(12, 30))) for _ in range(600)]
valid_graphs = [make_network(int(rng.integers(12, 30))) for _ in range(120)]
vx, ve, vy = union(valid_graphs)
ymean = float(np.concatenate([g[2] for g in train_graphs]).mean())
ystd = float(np.concatenate([g[2] for g in train_graphs]).std())

model = EstuaryNet()
warm = 200
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm),
                              lambda s: mx.array(2e-3)], [warm])
opt = optim.RMSprop(learning_rate=sched, alpha=0.95)


def loss_fn(m, x, e, y):
    return nn.losses.mse_loss(m(x, e), (y - ymean) / ystd)


step_fn = nn.value_and_grad(model, loss_fn)


def valid_rmse():
    pred = model(vx, ve) * ystd + ymean
    return float(mx.sqrt(mx.mean((pred - vy) ** 2)))


def local_only_rmse():
    # reference: least squares on the node's own features only
    X = np.concatenate([g[0] for g in train_graphs]); Y = np.concatenate([g[2] for g in train_graphs])
    A = np.c_[X, np.ones(len(X))]
    w = np.linalg.lstsq(A, Y, rcond=None)[0]
    Xv = np.array(vx); return float(np.sqrt(np.mean((np.c_[Xv, np.ones(len(Xv))] @ w - np.array(vy)) ** 2)))


print("| step | lr | train mse (std units) | valid rmse psu | own-features lstsq psu |")
print("|---:|---:|---:|---:|---:|")
ref = local_only_rmse()
print(f"| 0 | 0 | - | {valid_rmse():.3f} | {ref:.3f} |")
t0 = time.time()
step, win = 0, []
for epoch in range(24):
    order = rng.permutation(len(train_graphs))
    for i in range(0, len(order), 20):
        x, e, y = union([train_graphs[j] for j in order[i:i + 20]])
        lr_now = float(sched(opt.step))
        loss, grads = step_fn(model, x, e, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        win.append(loss.item())
        if step % 50 == 0:
            print(f"| {step} | {lr_now:.2e} | {np.mean(win):.4f} | {valid_rmse():.3f} | {ref:.3f} |")
            win = []
print(f"\nfinished {step} steps in {time.time() - t0:.1f}s, valid rmse {valid_rmse():.3f} psu (noise sd 0.8 x width factor)")
