"""Preemption-safe training: after every epoch the model weights and the optimizer state are
written to disk, everything is thrown away, and training continues from a freshly built model +
optimizer loaded back from those files (as a job restarted on a new machine would)."""
import os
import shutil
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(11)
N, D, C = 768, 10, 4
centers = mx.random.normal((C, D)) * 0.5
labels = mx.random.randint(0, C, (N,))
feats = centers[labels] + mx.random.normal((N, D))


def build():
    model = nn.Sequential(nn.Linear(D, 32), nn.ReLU(), nn.Linear(32, C))
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-3)
    return model, opt


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


ckpt_dir = tempfile.mkdtemp(prefix="ckpt_")
model, opt = build()
mx.eval(model.parameters())
for epoch in range(1, 9):
    if epoch > 1:
        # "restart": new objects, state restored from disk
        model, opt = build()
        model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
        state = mx.load(os.path.join(ckpt_dir, "opt.safetensors"))
        opt.state = tree_unflatten(list(state.items()))
    vg = nn.value_and_grad(model, loss_fn)
    perm = mx.random.permutation(N)
    tot = 0.0
    for b in range(0, N, 48):
        idx = perm[b:b + 48]
        loss, grads = vg(model, feats[idx], labels[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        tot += loss.item() * idx.size
    acc = (mx.argmax(model(feats), axis=1) == labels).mean().item()
    model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    print(f"epoch {epoch}: train_ce={tot / N:.4f} acc={acc:.3f} opt_step={opt.state['step'].item()} (checkpoint written, process state dropped)")
    del model, opt, vg
shutil.rmtree(ckpt_dir)
