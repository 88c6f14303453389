"""Fine-tune of a small classifier kept in bfloat16 to halve memory (the checkpoint is bf16),
AdamW with a typical fine-tuning learning rate. Prints a plain table every 40 steps."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)
D, C = 32, 4
proto = mx.random.normal((C, D))
labels = mx.random.randint(0, C, (2048,))
feats = proto[labels] + 1.2 * mx.random.normal((2048, D))

model = nn.Sequential(nn.Linear(D, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                      nn.Linear(128, C))
model.set_dtype(mx.bfloat16)
opt = optim.AdamW(learning_rate=2e-5, weight_decay=0.01)
lg = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(
    m(x).astype(mx.float32), y, reduction="mean"))

print("step  loss    acc")
for step in range(1, 601):
    idx = mx.random.randint(0, 2048, (64,))
    x = feats[idx].astype(model.layers[0].weight.dtype)
    loss, grads = lg(model, x, labels[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step % 40 == 0:
        logits = model(feats.astype(model.layers[0].weight.dtype))
        acc = (logits.argmax(1) == labels).mean().item()
        print(f"{step:4d}  {loss.item():.4f}  {acc:.3f}")
