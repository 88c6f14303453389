import json
import tempfile
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import mlx.utils

TEXT = (
    "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat "
    "and the dog dreams of chasing the fox across the green hills under the pale moon "
) * 8


class BigramMLP(nn.Module):
    def __init__(self, vocab, dim=48, hidden=96):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.fc1 = nn.Linear(2 * dim, hidden)
        self.out = nn.Linear(hidden, vocab)

    def __call__(self, ctx):
        h = self.emb(ctx).reshape(ctx.shape[0], -1)
        return self.out(nn.gelu(self.fc1(h)))


def save_checkpoint(path, model, optimizer, step):
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    weights = dict(mx.utils.tree_flatten(model.parameters()))
    mx.save_safetensors(str(path / "model.safetensors"), weights)
    opt_state = dict(mx.utils.tree_flatten(optimizer.state))
    if opt_state:
        mx.save_safetensors(str(path / "optimizer.safetensors"), opt_state)
    (path / "metadata.json").write_text(json.dumps({"step": step}))


def main():
    mx.random.seed(0)
    chars = sorted(set(TEXT))
    stoi = {c: i for i, c in enumerate(chars)}
    data = mx.array([stoi[c] for c in TEXT])
    n = data.shape[0] - 2
    ctx_all = mx.stack([data[:-2], data[1:-1]], axis=1)
    tgt_all = data[2:]

    model = BigramMLP(len(chars))
    max_steps, warmup = 1500, 100
    schedule = optim.join_schedules(
        [optim.linear_schedule(1e-4, 3e-3, warmup),
         optim.cosine_decay(3e-3, decay_steps=max_steps - warmup)],
        [warmup],
    )
    opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)
    ckpt_root = Path(tempfile.mkdtemp(prefix="bigram_ckpt_"))

    for step in range(1, max_steps + 1):
        idx = mx.random.randint(0, n, (128,))
        loss, grads = step_fn(model, ctx_all[idx], tgt_all[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % 100 == 0:
            full = loss_fn(model, ctx_all, tgt_all).item()
            print(json.dumps({"step": step, "batch_loss": round(loss.item(), 4),
                              "full_loss": round(full, 4),
                              "lr": float(opt.learning_rate.item())}))
        if step % 500 == 0:
            save_checkpoint(ckpt_root / f"step_{step:05d}", model, opt, step)
            print(json.dumps({"event": "checkpoint", "step": step}))

    print(json.dumps({"event": "done", "checkpoints": sorted(p.name for p in ckpt_root.iterdir())}))


if __name__ == "__main__":
    main()
