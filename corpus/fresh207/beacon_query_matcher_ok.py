# Set-prediction toy (DETR-style): a handful of learned queries must place
# "beacons" on a 1-D coastline. Targets are matched to queries with a cheap
# greedy matcher (argmin of the cost per target) instead of Hungarian, so the
# whole train step stays inside MLX.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
NQ, K, D = 8, 3, 16          # queries, targets per scene, scene feature dim
N_SCENES, STEPS = 256, 300

# synthetic scenes: 3 beacon positions in [0,1]; scene features = noisy encoding
pos = mx.sort(mx.random.uniform(shape=(N_SCENES, K)), axis=1)
proj = mx.random.normal((K, D))
feats = pos @ proj + 0.05 * mx.random.normal((N_SCENES, D))


class QueryHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.queries = 0.1 * mx.random.normal((NQ, D))
        self.enc = nn.Linear(D, D)
        self.mix = nn.Linear(D, 32)
        self.box = nn.Linear(32, 1)
        self.obj = nn.Linear(32, 1)

    def __call__(self, f):                      # f: (D,)
        h = nn.gelu(self.mix(self.queries + nn.tanh(self.enc(f))[None, :]))
        return mx.sigmoid(self.box(h)[:, 0]), self.obj(h)[:, 0]   # (NQ,), (NQ,)


def scene_loss(model, f, tgt):
    p, logit = model(f)
    cost = mx.abs(p[:, None] - tgt[None, :]) - 0.2 * mx.sigmoid(logit)[:, None]  # (NQ, K)
    idx = mx.stop_gradient(cost.argmin(0))      # matched query for each target
    obj_t = mx.zeros((NQ,))
    obj_t[idx] = 1.0                            # scatter: matched queries are "objects"
    l_box = mx.abs(p[idx] - tgt).mean()
    l_obj = nn.losses.binary_cross_entropy(logit, obj_t, with_logits=True, reduction="mean")
    return 5.0 * l_box + l_obj


def batch_loss(model, fb, tb):
    return mx.mean(mx.stack([scene_loss(model, fb[i], tb[i]) for i in range(fb.shape[0])]))


model = QueryHead()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, batch_loss)

t0 = time.time()
for step in range(1, STEPS + 1):
    sel = mx.random.randint(0, N_SCENES, (16,))
    loss, grads = step_fn(model, feats[sel], pos[sel])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 30 == 0 or step == 1:
        print(f"[{step:4d}/{STEPS}] set-loss {loss.item():.4f}  ({time.time()-t0:.1f}s)")

# held-out style check: mean distance from each beacon to its nearest confident query
p, logit = model(feats[0])
print("scene0 beacons", [round(v, 3) for v in pos[0].tolist()])
print("scene0 queries", [round(v, 3) for v in p.tolist()])
print("done")
