# Tiny patch-MLP "ViT-ish" classifier on synthetic 8x8 images, with
# gradient accumulation over micro-batches and a warmup+cosine schedule.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import mlx.utils

rng = np.random.default_rng(0)
N_CLS, IMG, PATCH = 4, 8, 4

def make_data(n):
    y = rng.integers(0, N_CLS, n)
    x = rng.normal(0, 0.6, (n, IMG, IMG)).astype(np.float32)
    for i, c in enumerate(y):          # class = which quadrant is bright
        r, s = divmod(int(c), 2)
        x[i, r*4:(r+1)*4, s*4:(s+1)*4] += 1.0
    return mx.array(x), mx.array(y)

class PatchNet(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.embed = nn.Linear(PATCH * PATCH, dim)
        self.pos = mx.zeros((4, dim))
        self.mix = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, N_CLS)
    def __call__(self, x):
        B = x.shape[0]
        p = x.reshape(B, 2, PATCH, 2, PATCH).transpose(0, 1, 3, 2, 4).reshape(B, 4, PATCH * PATCH)
        h = self.embed(p) + self.pos
        h = h + nn.gelu(self.mix(h))
        return self.head(h.mean(axis=1))

def loss_fn(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = (logits.argmax(-1) == y).astype(mx.float32).mean()
    return loss, acc

def cosine(step, total, warm, base):
    if step < warm:
        return base * (step + 1) / warm
    return 0.5 * base * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

xtr, ytr = make_data(2048)
xva, yva = make_data(512)
model = PatchNet()
mx.eval(model.parameters())
optimizer = optim.AdamW(learning_rate=1e-3, weight_decay=0.01)
loss_and_grad_fn = nn.value_and_grad(model, loss_fn)

EPOCHS, BS, ACCUM, LR = 6, 32, 4, 3e-3
steps_per_epoch = xtr.shape[0] // BS
total_steps = EPOCHS * steps_per_epoch // ACCUM
global_step = 0
for epoch in range(EPOCHS):
    t0 = time.time()
    perm = mx.array(rng.permutation(xtr.shape[0]))
    accum_grads = None
    ep_loss, ep_acc, nb = 0.0, 0.0, 0
    for batch_idx in range(steps_per_epoch):
        idx = perm[batch_idx * BS:(batch_idx + 1) * BS]
        optimizer.learning_rate = mx.array(cosine(global_step, total_steps, 10, LR))
        (loss, acc), grads = loss_and_grad_fn(model, xtr[idx], ytr[idx])
        if ACCUM > 1:
            if accum_grads is None:
                accum_grads = grads
            else:
                accum_grads = mlx.utils.tree_map(lambda a, b: a + b, accum_grads, grads)
            if (batch_idx + 1) % ACCUM == 0:
                scale = 1.0 / ACCUM
                accum_grads = mlx.utils.tree_map(lambda g: g * scale, accum_grads)
                optimizer.update(model, accum_grads)
                accum_grads = None
                mx.eval(model.parameters(), optimizer.state)
                global_step += 1
        else:
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)
            global_step += 1
        ep_loss += loss.item(); ep_acc += acc.item(); nb += 1
    vl, va = loss_fn(model, xva, yva)
    print(f"\nEpoch {epoch+1}/{EPOCHS} | train_loss {ep_loss/nb:.4f} | train_acc {ep_acc/nb:.3f} | "
          f"val_loss {vl.item():.4f} | val_acc {va.item():.3f} | time {time.time()-t0:.1f}s")
