"""Canal lock-keeper passage logs: per-minute water-level rise in a lock chamber.

Passages have very different lengths (6..60 minutes). Batches are packed under a
token budget from length-sorted buckets, several packed micro-batches make one
update, and the summed per-minute loss is divided by the number of real minutes in
the whole window. The model predicts mean and log-variance (Gaussian NLL, which goes
below zero once the fit is tight). Output: gnuplot data blocks.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

SEED = 11
TOKEN_BUDGET = 480
MICRO_PER_UPDATE = 3
UPDATES, WARM = 150, 25
NOISE = 0.05


def make_passages(rng, n):
    out = []
    for _ in range(n):
        L = int(rng.integers(6, 61))
        gate = rng.uniform(0.2, 1.0)
        head = rng.uniform(1.0, 4.0)
        level = np.zeros(L)
        feats = np.zeros((L, 4), dtype=np.float32)
        lv = 0.0
        for t in range(L):
            opening = min(1.0, gate * (t + 1) / 8.0)
            rise = 0.35 * opening * math.sqrt(max(head - lv, 0.0))
            lv += rise
            level[t] = rise
            feats[t] = [opening, head / 4.0, lv / 4.0, t / 60.0]
        y = (level + rng.normal(0, NOISE, L)).astype(np.float32)
        out.append((feats, y))
    return out


def pack(passages, rng):
    order = sorted(range(len(passages)), key=lambda i: len(passages[i][1]))
    batches, cur, cur_max = [], [], 0
    for i in order:
        L = len(passages[i][1])
        if cur and max(cur_max, L) * (len(cur) + 1) > TOKEN_BUDGET:
            batches.append(cur)
            cur, cur_max = [], 0
        cur.append(i)
        cur_max = max(cur_max, L)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


def collate(passages, idx):
    L = max(len(passages[i][1]) for i in idx)
    x = np.zeros((len(idx), L, 4), np.float32)
    y = np.zeros((len(idx), L), np.float32)
    m = np.zeros((len(idx), L), np.float32)
    for r, i in enumerate(idx):
        f, t = passages[i]
        x[r, : len(t)] = f
        y[r, : len(t)] = t
        m[r, : len(t)] = 1.0
    return mx.array(x), mx.array(y), mx.array(m), L


class LevelNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 24)
        self.gru = nn.GRU(24, 32)
        self.out = nn.Linear(32, 2)

    def __call__(self, x):
        h = self.gru(nn.silu(self.inp(x)))
        o = self.out(h)
        return o[..., 0], mx.clip(o[..., 1], -8.0, 4.0)


def nll_sum(model, x, y, m):
    mu, logv = model(x)
    per = 0.5 * (logv + (y - mu) ** 2 / mx.exp(logv) + math.log(2 * math.pi))
    return (per * m).sum()


def block(name, header, rows):
    print(f"${name} << EOD")
    print("# " + " ".join(header))
    for r in rows:
        print(" ".join(f"{v:.5g}" if isinstance(v, float) else str(v) for v in r))
    print("EOD", flush=True)


def main():
    t0 = time.time()
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    train = make_passages(rng, 700)
    valid = make_passages(np.random.default_rng(SEED + 5), 150)
    ytr = np.concatenate([p[1] for p in train])
    mu0, sd0 = float(ytr.mean()), float(ytr.std())
    const_nll = 0.5 * (math.log(2 * math.pi * sd0**2) + 1.0)
    floor_nll = 0.5 * (math.log(2 * math.pi * NOISE**2) + 1.0)
    block("DATASET", ["key", "value"], [["train_passages", len(train)], ["valid_passages", len(valid)],
          ["train_minutes", int(ytr.size)], ["token_budget", TOKEN_BUDGET], ["micro_per_update", MICRO_PER_UPDATE],
          ["const_gauss_nll", const_nll], ["noise_floor_nll", floor_nll]])

    model = LevelNet()
    mx.eval(model.parameters())
    sched = optim.join_schedules([optim.linear_schedule(0.0, 4e-3, WARM), optim.cosine_decay(4e-3, UPDATES - WARM, 1e-4)], [WARM])
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, nll_sum)

    vbatches = pack(valid, np.random.default_rng(0))

    def valid_stats():
        s_nll = s_se = s_n = 0.0
        for idx in vbatches:
            x, y, m, _ = collate(valid, idx)
            mu, logv = model(x)
            per = 0.5 * (logv + (y - mu) ** 2 / mx.exp(logv) + math.log(2 * math.pi))
            s_nll += float((per * m).sum().item())
            s_se += float((((y - mu) ** 2) * m).sum().item())
            s_n += float(m.sum().item())
        return s_nll / s_n, math.sqrt(s_se / s_n)

    rows, update, last_len = [], 0, None
    queue = []
    while update < UPDATES:
        if len(queue) < MICRO_PER_UPDATE:
            queue += pack(train, rng)
        micro = [queue.pop() for _ in range(MICRO_PER_UPDATE)]
        acc, loss_sum, n_tok, rows_in = None, 0.0, 0.0, 0
        for idx in micro:
            x, y, m, L = collate(train, idx)
            if last_len is not None and abs(L - last_len) > 20:
                mx.clear_cache()
            last_len = L
            loss, g = vg(model, x, y, m)
            acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
            mx.eval(acc, loss)
            loss_sum += float(loss.item())
            n_tok += float(m.sum().item())
            rows_in += len(idx)
        grads = tree_map(lambda a: a / n_tok, acc)
        lr_used = float(sched(mx.array(update)).item())
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        update += 1
        if update in (1, 2) or update % 25 == 0:
            v_nll, v_rmse = valid_stats()
            rows.append([update, lr_used, loss_sum / n_tok, v_nll, v_rmse, sd0, rows_in, int(n_tok), round(time.time() - t0, 1)])
            print(f"# update {update} logged", flush=True)

    block("TRAIN", ["update", "lr", "train_nll", "valid_nll", "valid_rmse", "const_rmse", "rows", "minutes", "secs"], rows)
    v_nll, v_rmse = valid_stats()
    block("FINAL", ["key", "value"], [["valid_nll", v_nll], ["valid_rmse", v_rmse], ["const_rmse", sd0],
          ["noise_sd", NOISE], ["wall_secs", round(time.time() - t0, 1)]])
    print("plot $TRAIN using 1:4 with lines title 'valid nll', $TRAIN using 1:3 with lines title 'train nll'")


if __name__ == "__main__":
    main()
