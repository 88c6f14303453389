"""Cairn survey: predict the gust speed (m/s) that topples a trail cairn from
its stones.  Each cairn is a variable-size set of 3-9 stones (mass, flatness,
overhang, tilt, height fraction).  A one-layer set encoder with a key-padding
mask (mx.fast.scaled_dot_product_attention), mx.fast.layer_norm and attention
pooling by a learned query.  Two seeds; each seed runs a head-only stage with
the encoder frozen, then a full stage with early stopping and best-weight
restore.  Output is CSV."""
import sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

MAXS, FEAT, NOISE = 9, 5, 1.2


def survey(n, rng):
    x = np.zeros((n, MAXS, FEAT), np.float32)
    keep = np.zeros((n, MAXS), bool)
    y = np.zeros(n, np.float32)
    for i in range(n):
        s = rng.integers(3, MAXS + 1)
        mass = rng.lognormal(1.0, 0.5, s)
        flat = rng.uniform(0, 1, s)
        over = rng.normal(0, 1, s)
        tilt = np.abs(rng.normal(0, 8, s))
        hfrac = np.arange(s) / (s - 1)
        base = np.log(mass[:2].sum())
        weak = np.max(np.abs(over) * (0.5 + hfrac) - flat)
        y[i] = 14 + 4 * base - 3.5 * weak - 0.15 * tilt.mean() - 0.6 * s + rng.normal(0, NOISE)
        x[i, :s] = np.stack([np.log(mass), flat, over, tilt / 8, hfrac], 1)
        keep[i, :s] = True
    return x, keep, y


class CairnNet(nn.Module):
    def __init__(self, d=32, heads=2):
        super().__init__()
        self.heads, self.hd = heads, d // heads
        self.inp = nn.Linear(FEAT, d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln_w, self.ln_b = mx.ones((d,)), mx.zeros((d,))
        self.pool_q = mx.random.normal((1, heads, 1, d // heads)) * 0.1
        self.pool_kv = nn.Linear(d, 2 * d)
        self.head = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, 1))

    def split(self, t):
        B, S, _ = t.shape
        return t.reshape(B, S, self.heads, self.hd).transpose(0, 2, 1, 3)

    def __call__(self, x, keep):
        B = x.shape[0]
        m = keep[:, None, None, :]
        h = nn.silu(self.inp(x))
        q, k, v = map(self.split, mx.split(self.qkv(h), 3, axis=-1))
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.hd ** -0.5, mask=m)
        h = h + self.proj(a.transpose(0, 2, 1, 3).reshape(B, -1, self.heads * self.hd))
        h = mx.fast.layer_norm(h, self.ln_w, self.ln_b, 1e-5)
        pk, pv = map(self.split, mx.split(self.pool_kv(h), 2, axis=-1))
        pq = mx.broadcast_to(self.pool_q, (B, self.heads, 1, self.hd))
        p = mx.fast.scaled_dot_product_attention(pq, pk, pv, scale=self.hd ** -0.5, mask=m)
        return self.head(p.reshape(B, -1))[:, 0]


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(5)
    xtr, ktr, ytr = survey(2000, rng)
    xva, kva, yva = survey(500, rng)
    mu, sd = ytr.mean(), ytr.std()
    Xtr, Ktr, Ytr = mx.array(xtr), mx.array(ktr), mx.array((ytr - mu) / sd)
    Xva, Kva = mx.array(xva), mx.array(kva)
    base_mae = float(np.abs(yva - np.median(ytr)).mean())
    print(f"# cairns train {len(ytr)} valid {len(yva)}; toppling gust mean {mu:.1f} m/s sd {sd:.1f};"
          f" median-guess MAE {base_mae:.2f} m/s; noise sd {NOISE} (MAE floor ~{NOISE * 0.798:.2f})")
    print("seed,stage,epoch,step,lr,train_mse_std,valid_mae_ms,baseline_mae_ms,note")

    def loss_fn(model, x, k, y):
        return mx.mean((model(x, k) - y) ** 2)

    def valid_mae(model):
        pred = np.array(model(Xva, Kva)) * sd + mu
        return float(np.abs(pred - yva).mean())

    finals = []
    for seed in (0, 1):
        mx.random.seed(seed)
        order_rng = np.random.default_rng(100 + seed)
        model = CairnNet()
        stages = [("head", 2, 3e-3), ("full", 14, 2e-3)]
        for stage, epochs, lr0 in stages:
            if stage == "head":
                model.freeze()
                model.head.unfreeze()
            else:
                model.unfreeze()
            n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
            opt = optim.RMSprop(learning_rate=optim.step_decay(lr0, 0.5, 250))
            step_fn = nn.value_and_grad(model, loss_fn)
            snap = {k: v for k, v in tree_flatten(model.parameters())}
            best, best_params, bad, step = np.inf, None, 0, 0
            print(f"{seed},{stage},0,0,{lr0:.1e},,{valid_mae(model):.3f},{base_mae:.3f},start trainable={n_train}")
            for ep in range(1, epochs + 1):
                perm = mx.array(order_rng.permutation(len(ytr)))
                tot = 0.0
                for i in range(0, len(ytr), 32):
                    idx = perm[i:i + 32]
                    loss, g = step_fn(model, Xtr[idx], Ktr[idx], Ytr[idx])
                    opt.update(model, g)
                    mx.eval(model.parameters(), opt.state, loss)
                    tot += loss.item() * idx.size
                    step += 1
                v = valid_mae(model)
                note = ""
                if v < best - 1e-3:
                    best, bad, note = v, 0, "best"
                    best_params = [(k, mx.array(p)) for k, p in tree_flatten(model.parameters())]
                else:
                    bad += 1
                print(f"{seed},{stage},{ep},{step},{opt.learning_rate.item():.1e},{tot / len(ytr):.4f},"
                      f"{v:.3f},{base_mae:.3f},{note}")
                if stage == "full" and bad >= 3:
                    print(f"{seed},{stage},{ep},{step},,,,,stopped (patience 3)")
                    break
            if stage == "head":
                moved = max(float(mx.abs(p - snap[k]).max()) for k, p in tree_flatten(model.parameters())
                            if not k.startswith("head"))
                print(f"{seed},{stage},,,,,,,encoder drift {moved:.1e}")
            else:
                model.load_weights(best_params)
                print(f"{seed},{stage},,,,,{valid_mae(model):.3f},{base_mae:.3f},restored best")
                finals.append(valid_mae(model))
    print(f"# final valid MAE per seed {[round(f, 3) for f in finals]} m/s vs median guess {base_mae:.2f};"
          f" {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
