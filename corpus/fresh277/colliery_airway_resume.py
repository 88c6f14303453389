# Colliery ventilation planning: predict the fan pressure (log Pa) a mine
# needs so every working heading gets its design airflow, from the airway
# network (junctions = nodes, airways = edges with resistances).
# Training runs as two sessions: session 1 stops at a checkpoint, session 2
# rebuilds everything from disk and carries on.
import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)


def make_mine():
    n = int(rng.integers(6, 15))
    parent = [-1] + [int(rng.integers(max(0, i - 4), i)) for i in range(1, n)]
    children = [[] for _ in range(n)]
    for i in range(1, n):
        children[parent[i]].append(i)
    leaf = np.array([len(c) == 0 for c in children])
    demand = np.where(leaf, rng.uniform(8, 30, n), 0.0)  # m3/s at headings
    res = rng.uniform(0.002, 0.02, n)                       # airway into node i
    res[0] = 0.0
    flow = demand.copy()
    for i in range(n - 1, 0, -1):
        flow[parent[i]] += flow[i]
    drop = np.zeros(n)
    depth = np.zeros(n)
    for i in range(1, n):
        drop[i] = drop[parent[i]] + res[i] * flow[i] ** 2
        depth[i] = depth[parent[i]] + 1
    target = np.log(drop[leaf].max() + 1.0)
    node = np.stack([demand / 30.0, depth / 6.0, leaf.astype(float),
                     (np.arange(n) == 0).astype(float)], 1)
    e_src = np.array(list(range(1, n)) + parent[1:])
    e_dst = np.array(parent[1:] + list(range(1, n)))
    e_res = np.concatenate([res[1:], res[1:]]) / 0.02
    e_dir = np.concatenate([np.ones(n - 1), -np.ones(n - 1)])
    edge = np.stack([e_res, e_dir], 1)
    return node, e_src, e_dst, edge, target


mines = [make_mine() for _ in range(3600)]
train, val = mines[:3000], mines[3000:]
ys = np.array([m[4] for m in train])
y_mu, y_sd = ys.mean(), ys.std()


def collate(batch):
    xs, ss, ds, es, gid, tg = [], [], [], [], [], []
    off = 0
    for g, (node, s, d, e, t) in enumerate(batch):
        xs.append(node); ss.append(s + off); ds.append(d + off); es.append(e)
        gid.append(np.full(len(node), g)); tg.append(t)
        off += len(node)
    return (mx.array(np.concatenate(xs).astype(np.float32)),
            mx.array(np.concatenate(ss).astype(np.int32)),
            mx.array(np.concatenate(ds).astype(np.int32)),
            mx.array(np.concatenate(es).astype(np.float32)),
            mx.array(np.concatenate(gid).astype(np.int32)),
            mx.array(((np.array(tg) - y_mu) / y_sd).astype(np.float32)), len(batch))


class EdgeConv(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.filt = nn.Sequential(nn.Linear(2, d), nn.SiLU(), nn.Linear(d, d))
        self.msg = nn.Linear(d, d)
        self.upd = nn.Linear(2 * d, d)
        self.norm = nn.LayerNorm(d)

    def __call__(self, h, s, d, e):
        m = self.msg(h)[s] * self.filt(e)
        agg = mx.zeros_like(h).at[d].add(m)
        return self.norm(h + nn.silu(self.upd(mx.concatenate([h, agg], 1))))


class AirwayNet(nn.Module):
    def __init__(self, d=32, rounds=4):
        super().__init__()
        self.embed = nn.Linear(4, d)
        self.convs = [EdgeConv(d) for _ in range(rounds)]
        self.head = nn.Sequential(nn.Linear(2 * d, d), nn.SiLU(), nn.Linear(d, 1))

    def __call__(self, x, s, d, e, gid, ng):
        h = self.embed(x)
        for c in self.convs:
            h = c(h, s, d, e)
        pooled_sum = mx.zeros((ng, h.shape[1])).at[gid].add(h)
        pooled_max = mx.full((ng, h.shape[1]), -1e9).at[gid].maximum(h)
        return self.head(mx.concatenate([pooled_sum / 8.0, pooled_max], 1)).squeeze(-1)


TOTAL, WARM, STOP_AT, BS = 360, 40, 180, 32
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, TOTAL - WARM, 2e-5)],
    [WARM])


def build():
    m = AirwayNet()
    o = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return m, o


def loss_fn(m, x, s, d, e, gid, t, ng):
    return nn.losses.mse_loss(m(x, s, d, e, gid, ng), t)


def evaluate(m, data):
    err = []
    for i in range(0, len(data), 200):
        x, s, d, e, gid, t, ng = collate(data[i:i + 200])
        p = m(x, s, d, e, gid, ng)
        err.append(np.array((p - t) * y_sd))
    err = np.concatenate(err)
    return float(np.sqrt((err ** 2).mean())), float(np.abs(err).mean())


vt = np.array([m[4] for m in val])
base_rmse = float(np.sqrt(((vt - y_mu) ** 2).mean()))
print(f"mines train={len(train)} val={len(val)}  target log-Pa mean={y_mu:.3f} sd={y_sd:.3f}")
print(f"reference: predict-the-mean val RMSE {base_rmse:.4f} log-Pa")

ckpt_dir = tempfile.mkdtemp()
order_rng = np.random.default_rng(5)


def run(model, opt, first, last):
    lg = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(first, last + 1):
        idx = order_rng.integers(0, len(train), BS)
        x, s, d, e, gid, t, ng = collate([train[i] for i in idx])
        loss, grads = lg(model, x, s, d, e, gid, t, ng)
        lr_used = float(opt.learning_rate) if step > 1 else float(sched(0))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step == 1:
            gn = [float(mx.linalg.norm(g)) for _, g in tree_flatten(grads)]
            print(f"step 1 lr {lr_used:.2e} | {len(gn)} grad tensors, min norm {min(gn):.2e}")
        if step % 60 == 0:
            model.eval()
            rmse, mae = evaluate(model, val)
            model.train()
            print(f"step {step:4d} lr {float(opt.learning_rate):.2e} train_mse(z) {np.mean(window):.4f} "
                  f"val_rmse {rmse:.4f} val_mae {mae:.4f} log-Pa (mean-guess {base_rmse:.4f})")
            window = []


mx.random.seed(0)
t0 = time.time()
model, opt = build()
print("session 1: steps 1..%d" % STOP_AT)
run(model, opt, 1, STOP_AT)
model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
rmse_saved, _ = evaluate(model, val)
print(f"checkpoint written at step {STOP_AT} (val_rmse {rmse_saved:.4f})")
del model, opt

model, opt = build()
model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
rmse_loaded, _ = evaluate(model, val)
print(f"session 2: resumed at step {int(opt.state['step'])} lr {float(opt.learning_rate):.2e} "
      f"(val_rmse after reload {rmse_loaded:.4f})")
run(model, opt, STOP_AT + 1, TOTAL)
model.eval()
rmse, mae = evaluate(model, val)
print(f"final val_rmse {rmse:.4f} log-Pa = {100 * rmse / base_rmse:.1f}% of mean-guess; "
      f"typical pressure error ~{100 * (np.exp(mae) - 1):.1f}%  ({time.time() - t0:.1f}s)")
for f in os.listdir(ckpt_dir):
    os.remove(os.path.join(ckpt_dir, f))
os.rmdir(ckpt_dir)
