"""Learn a linear map that aligns noisy source embeddings with target embeddings.
Objective: negative mean cosine similarity (minimised), so it starts near 0
and heads towards -1."""
import json
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
D = 24
R = mx.linalg.qr(mx.random.normal((D, D)), stream=mx.cpu)[0]
src = mx.random.normal((4096, D))
tgt = src @ R + 0.15 * mx.random.normal((4096, D))

model = nn.Linear(D, D, bias=False)
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.02, momentum=0.9)


def neg_cos(m, a, b):
    p = m(a)
    cos = mx.sum(p * b, axis=1) / (mx.linalg.norm(p, axis=1) * mx.linalg.norm(b, axis=1) + 1e-8)
    return -mx.mean(cos)


step_fn = nn.value_and_grad(model, neg_cos)
step = 0
for epoch in range(6):
    perm = mx.random.permutation(4096)
    for i in range(0, 4096, 64):
        idx = perm[i:i + 64]
        obj, g = step_fn(model, src[idx], tgt[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, obj)
        step += 1
        if step == 1 or step % 40 == 0:
            print(json.dumps({"step": step, "epoch": epoch, "objective": round(obj.item(), 5)}))
full = neg_cos(model, src, tgt).item()
print(json.dumps({"final_objective": round(full, 5), "mean_cosine": round(-full, 5)}))
