"""Cloud physics: ice-crystal habit from airborne particle-imager frames.

Four habits (plate, column, needle, dendrite) rendered from continuous
shapes, so the same crystal population can be imaged at 16x16 (old probe)
or 24x24 (new probe).  Tiny ViT with 4x4 patches, learned class token and a
LEARNED position table on the patch grid.

Schedule of the campaign:
  stage A   16x16 frames, AdamW, linear warm-up from exactly 0 then flat.
  checkpoint  weights + optimizer state written to disk, the process state
            is thrown away, a fresh model/optimizer is rebuilt from the files
            and stage A continues for a while.
  stage B   24x24 frames from the new probe: the 4x4 position grid is
            bilinearly resized to 6x6 and training goes on with cosine
            cycles that restart twice (warm restarts), so the loss jumps
            at the switch and at each restart before settling.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
PATCH = 4
DIM = 32
HEADS = 4
DEPTH = 2
HABITS = ["plate", "column", "needle", "dendrite"]

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def crystal(kind, res, p):
    """Render one crystal at resolution res from shape parameters p."""
    c = (np.arange(res) + 0.5) / res * 2 - 1
    y, x = np.meshgrid(c, c, indexing="ij")
    x, y = x - p["cx"], y - p["cy"]
    ca, sa = np.cos(p["rot"]), np.sin(p["rot"])
    u, v = ca * x + sa * y, -sa * x + ca * y
    r = np.sqrt(u ** 2 + v ** 2) + 1e-6
    th = np.arctan2(v, u)
    s = p["size"]
    if kind == 0:  # hexagonal plate
        hexr = s * np.cos(np.pi / 6) / np.cos((th % (np.pi / 3)) - np.pi / 6)
        z = (r < hexr).astype(np.float32)
    elif kind == 1:  # column, aspect 2-3
        z = ((np.abs(u) < s) & (np.abs(v) < s / p["aspect"])).astype(np.float32)
    elif kind == 2:  # needle, very thin and long
        z = ((np.abs(u) < s * 1.3) & (np.abs(v) < 0.07)).astype(np.float32)
    else:  # six-armed dendrite
        arm = np.abs(((th + np.pi / 6) % (np.pi / 3)) - np.pi / 6) * r
        z = ((arm < 0.08) & (r < s * 1.1)).astype(np.float32)
    return z


def make_split(n, res, seed):
    g = np.random.default_rng(seed)
    labels = g.integers(0, 4, size=n)
    imgs = np.empty((n, res, res, 1), dtype=np.float32)
    for i, k in enumerate(labels):
        p = dict(cx=g.uniform(-0.2, 0.2), cy=g.uniform(-0.2, 0.2), rot=g.uniform(0, np.pi),
                 size=g.uniform(0.35, 0.7), aspect=g.uniform(2.0, 3.0))
        z = crystal(k, res, p) * g.uniform(0.7, 1.2)
        imgs[i, ..., 0] = z + g.normal(0, 0.35, size=z.shape)
    return mx.array(imgs), mx.array(labels)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(DIM)
        self.attn = nn.MultiHeadAttention(DIM, HEADS)
        self.ln2 = nn.LayerNorm(DIM)
        self.fc1 = nn.Linear(DIM, 2 * DIM)
        self.fc2 = nn.Linear(2 * DIM, DIM)

    def __call__(self, x):
        h = self.ln1(x)
        x = x + self.attn(h, h, h)
        return x + self.fc2(nn.gelu(self.fc1(self.ln2(x))))


class HabitViT(nn.Module):
    def __init__(self, grid):
        super().__init__()
        self.grid = grid
        self.patch_embed = nn.Linear(PATCH * PATCH, DIM)
        self.cls_token = mx.zeros((1, 1, DIM))
        self.pos_embed = 0.02 * mx.random.normal((1, 1 + grid * grid, DIM))
        self.blocks = [Block() for _ in range(DEPTH)]
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, len(HABITS))

    def __call__(self, img):
        b, g = img.shape[0], self.grid
        p = img.reshape(b, g, PATCH, g, PATCH).transpose(0, 1, 3, 2, 4)
        tok = self.patch_embed(p.reshape(b, g * g, PATCH * PATCH))
        x = mx.concatenate([mx.broadcast_to(self.cls_token, (b, 1, DIM)), tok], axis=1)
        x = x + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x[:, 0]))

    def regrid(self, new_grid):
        """Bilinear resize of the learned patch-position grid."""
        old = self.grid
        pe = np.array(self.pos_embed)[0]
        cls_row, table = pe[:1], pe[1:].reshape(old, old, DIM)
        src = (np.arange(new_grid) + 0.5) * old / new_grid - 0.5
        src = np.clip(src, 0, old - 1)
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, old - 1)
        w = (src - i0)[:, None]
        rows = table[i0] * (1 - w[..., None]) + table[i1] * w[..., None]
        cols = rows[:, i0] * (1 - w[None]) + rows[:, i1] * w[None]
        self.pos_embed = mx.array(np.concatenate([cls_row, cols.reshape(-1, DIM)])[None])
        self.grid = new_grid


def loss_fn(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


def accuracy(model, x, y, bs=400):
    hits = 0
    for i in range(0, x.shape[0], bs):
        hits += (mx.argmax(model(x[i:i + bs]), -1) == y[i:i + bs]).sum().item()
    return hits / x.shape[0]


def run(model, opt, sched, x, y, steps, tag, start, every):
    step_fn = nn.value_and_grad(model, loss_fn)
    bs, n = 48, x.shape[0]
    window = []
    for k in range(steps):
        t = start + k
        idx = mx.array(rng.integers(0, n, size=bs))
        lr = sched(k).item()
        loss, grads = step_fn(model, x[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if k == 0 or (k + 1) % every == 0:
            print(f"[{tag}] step {t + 1:4d} lr {lr:.6f} loss {np.mean(window):.4f}")
            window = []
    return start + steps


def main():
    t0 = time.time()
    xa, ya = make_split(2400, 16, 1)
    xa_te, ya_te = make_split(600, 16, 2)
    xb, yb = make_split(2400, 24, 3)
    xb_te, yb_te = make_split(600, 24, 4)
    print(f"habits {HABITS}; old probe 16x16 {xa.shape[0]}/{xa_te.shape[0]}, new probe 24x24 {xb.shape[0]}/{xb_te.shape[0]}")
    print("chance accuracy 0.250")

    # ---- stage A, first session
    model = HabitViT(grid=4)
    mx.eval(model.parameters())
    warm, peak = 30, 1.5e-3
    sched_a = optim.join_schedules([optim.linear_schedule(0.0, peak, warm), lambda s: mx.array(peak)], [warm])
    opt = optim.AdamW(learning_rate=sched_a, weight_decay=0.02)
    t = run(model, opt, sched_a, xa, ya, 120, "A", 0, 20)
    acc_before = accuracy(model, xa_te, ya_te)
    print(f"[A] test acc 16x16 {acc_before:.3f}")

    with tempfile.TemporaryDirectory() as ck:
        wpath = os.path.join(ck, "habit_vit.safetensors")
        opath = os.path.join(ck, "habit_opt.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        size_kb = (os.path.getsize(wpath) + os.path.getsize(opath)) / 1024
        del model, opt
        print(f"checkpoint written ({size_kb:.0f} KiB), session closed")

        # ---- stage A, resumed session
        model = HabitViT(grid=4)
        model.load_weights(wpath)
        opt = optim.AdamW(learning_rate=sched_a, weight_decay=0.02)
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        mx.eval(model.parameters(), opt.state)
    acc_resumed = accuracy(model, xa_te, ya_te)
    print(f"resumed at optimizer step {opt.state['step'].item()}: test acc 16x16 {acc_resumed:.3f} (before save {acc_before:.3f})")
    offset = opt.state["step"].item()
    t = run(model, opt, lambda s: sched_a(s + offset), xa, ya, 40, "A", t, 20)
    acc_a = accuracy(model, xa_te, ya_te)
    print(f"[A] end test acc 16x16 {acc_a:.3f}")

    # ---- stage B, new probe
    model.regrid(6)
    mx.eval(model.parameters())
    print(f"[B] position grid resized 4x4 -> 6x6; test acc 24x24 before tuning {accuracy(model, xb_te, yb_te):.3f}")
    cyc = 40
    sched_b = optim.join_schedules(
        [optim.cosine_decay(1e-3, cyc, 1e-5), optim.cosine_decay(1e-3, cyc, 1e-5), optim.cosine_decay(6e-4, cyc, 1e-5)],
        [cyc, 2 * cyc])
    opt_b = optim.AdamW(learning_rate=sched_b, weight_decay=0.02)
    t = run(model, opt_b, sched_b, xb, yb, 3 * cyc, "B", t, 10)
    acc_b = accuracy(model, xb_te, yb_te)
    print(f"[B] end test acc 24x24 {acc_b:.3f} (stage A reached {acc_a:.3f} on 16x16)")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
