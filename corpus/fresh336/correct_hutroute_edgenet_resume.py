"""Hut-to-hut alpine route networks: regress the mean descent time (hours) of a
whole route network from hut and trail readings with an edge-conditioned
message-passing network. Graphs are packed into disjoint-union minibatches.

Schedule: Adam, linear warm-up from lr 0 over 40 steps, then the lr is halved
whenever the validation rmse has not improved for 2 epochs.
The run is split in two sessions: after epoch 8 everything is written to a
checkpoint, the objects are dropped, and session 2 rebuilds and reloads them."""
import json
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

NOISE_SD = 0.10


def make_network(rng):
    n = int(rng.integers(5, 13))
    src, dst = [], []
    for j in range(1, n):
        i = int(rng.integers(0, j))
        src += [i, j]
        dst += [j, i]
    x = np.stack([rng.normal(size=n), rng.uniform(0, 1, n), rng.normal(size=n)], 1)  # altitude, capacity, exposure
    m = len(src)
    length = rng.uniform(0.2, 2.0, m // 2).repeat(2)
    grade = rng.integers(0, 3, m // 2).repeat(2)
    e = np.stack([length, grade == 0, grade == 1, grade == 2], 1).astype(np.float32)
    s, d = np.array(src), np.array(dst)
    down = np.maximum(x[s, 0] - x[d, 0], 0.0)
    t_edge = length * (1 + 0.5 * grade) + 0.6 * down
    y = t_edge.mean() + 0.4 * np.tanh(x[:, 0]).mean() - 0.3 * x[:, 1].mean() + rng.normal() * NOISE_SD
    return x.astype(np.float32), np.array([s, d]), e, float(y)


def pack(graphs):
    xs, eis, es, gids, ys, off = [], [], [], [], [], 0
    for g, (x, ei, e, y) in enumerate(graphs):
        xs.append(x)
        eis.append(ei + off)
        es.append(e)
        gids.append(np.full(len(x), g))
        ys.append(y)
        off += len(x)
    return (
        mx.array(np.concatenate(xs)),
        mx.array(np.concatenate(eis, 1)),
        mx.array(np.concatenate(es)),
        mx.array(np.concatenate(gids)),
        mx.array(np.array(ys, dtype=np.float32)),
    )


class EdgeConv(nn.Module):
    def __init__(self, node_dim, edge_dim, out_dim):
        super().__init__()
        self.msg = nn.Sequential(nn.Linear(2 * node_dim + edge_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))
        self.upd = nn.Sequential(nn.Linear(node_dim + out_dim, out_dim), nn.SiLU())

    def __call__(self, x, ei, e):
        m = self.msg(mx.concatenate([x[ei[0]], x[ei[1]], e], 1))
        agg = mx.zeros((x.shape[0], m.shape[1])).at[ei[1]].add(m)
        return self.upd(mx.concatenate([x, agg], 1))


class RouteNet(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.c1 = EdgeConv(3, 4, hidden)
        self.c2 = EdgeConv(hidden, 4, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x, ei, e, gid, n_graphs):
        h = self.c2(self.c1(x, ei, e), ei, e)
        tot = mx.zeros((n_graphs, h.shape[1])).at[gid].add(h)
        cnt = mx.zeros((n_graphs, 1)).at[gid].add(mx.ones((h.shape[0], 1)))
        return self.head(tot / cnt)[:, 0]


def rmse(model, packed):
    x, ei, e, gid, y = packed
    p = model(x, ei, e, gid, y.shape[0])
    return mx.sqrt(mx.mean((p - y) ** 2)).item()


def run_session(model, opt, state, train, valid_p, epochs, rng, t0, bs=32):
    def loss_fn(model, x, ei, e, gid, y):
        return mx.mean((model(x, ei, e, gid, y.shape[0]) - y) ** 2)

    lg = nn.value_and_grad(model, loss_fn)
    for epoch in epochs:
        order = rng.permutation(len(train))
        tot, nb = 0.0, 0
        for i in range(0, len(train), bs):
            b = pack([train[j] for j in order[i : i + bs]])
            lr_used = opt.learning_rate.item()
            loss, grads = lg(model, *b)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            state["step"] += 1
            if state["step"] <= state["warmup"]:
                opt.learning_rate = state["peak_lr"] * state["step"] / state["warmup"]
            if state["step"] == 1:
                print(f"  first update used lr={lr_used:.1e} (warm-up start), batch mse {loss.item():.4f}")
            tot += loss.item()
            nb += 1
        v = rmse(model, valid_p)
        note = ""
        if v < state["best"] - 1e-3:
            state["best"], state["bad"] = v, 0
        else:
            state["bad"] += 1
            if state["bad"] >= 2 and state["step"] > state["warmup"]:
                opt.learning_rate = opt.learning_rate * 0.5
                state["bad"] = 0
                note = "lr halved"
        print(
            f"{epoch:5d} {state['step']:6d} {opt.learning_rate.item():9.2e} "
            f"{tot / nb:10.4f} {v:9.4f} {time.time() - t0:6.1f}s  {note}"
        )


def main():
    rng = np.random.default_rng(21)
    mx.random.seed(21)
    train = [make_network(rng) for _ in range(1600)]
    valid = [make_network(rng) for _ in range(400)]
    valid_p = pack(valid)
    ytr = np.array([g[3] for g in train])
    yva = np.array([g[3] for g in valid])
    base_mean = np.sqrt(np.mean((yva - ytr.mean()) ** 2))
    ftr = np.array([[g[2][:, 0].mean(), 1.0] for g in train])
    fva = np.array([[g[2][:, 0].mean(), 1.0] for g in valid])
    coef = np.linalg.lstsq(ftr, ytr, rcond=None)[0]
    base_len = np.sqrt(np.mean((fva @ coef - yva) ** 2))
    print(f"networks train={len(train)} valid={len(valid)} | noise sd {NOISE_SD:.2f} h")
    print(f"baselines valid rmse: predict-mean {base_mean:.4f} h, trail-length-only linear {base_len:.4f} h")

    peak = 3e-3
    state = {"step": 0, "warmup": 40, "peak_lr": peak, "best": float("inf"), "bad": 0}
    model = RouteNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=0.0)
    print(f"untrained valid rmse {rmse(model, valid_p):.4f} h")
    print("epoch   step        lr  train_mse  val_rmse   time")
    t0 = time.time()
    run_session(model, opt, state, train, valid_p, range(1, 9), rng, t0)

    with tempfile.TemporaryDirectory() as ck:
        model.save_weights(os.path.join(ck, "model.safetensors"))
        opt_state = dict(tree_flatten(opt.state))
        mx.save_safetensors(os.path.join(ck, "opt.safetensors"), opt_state)
        with open(os.path.join(ck, "meta.json"), "w") as f:
            json.dump(state, f)
        saved_v = rmse(model, valid_p)
        print(f"checkpoint written after epoch 8 (val rmse {saved_v:.4f})")
        del model, opt, state

        model = RouteNet()
        model.load_weights(os.path.join(ck, "model.safetensors"))
        opt = optim.Adam(learning_rate=0.0)
        opt.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
        with open(os.path.join(ck, "meta.json")) as f:
            state = json.load(f)
    print(
        f"resumed: step {state['step']} lr {opt.learning_rate.item():.2e} "
        f"val rmse {rmse(model, valid_p):.4f} (saved {saved_v:.4f})"
    )
    run_session(model, opt, state, train, valid_p, range(9, 19), rng, t0)
    print(
        f"done: val rmse {rmse(model, valid_p):.4f} h vs predict-mean {base_mean:.4f} h, "
        f"length-only {base_len:.4f} h, noise floor {NOISE_SD:.2f} h"
    )


if __name__ == "__main__":
    main()
