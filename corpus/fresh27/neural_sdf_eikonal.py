# Fit a neural signed-distance function f(x, y) to a 2-D shape (union of a disc and a box).
# Loss = L1 to the true SDF on random points + 0.1 * eikonal penalty (|grad_xy f| - 1)^2,
# where grad_xy f is taken with mx.grad w.r.t. the INPUT points inside the loss (double backprop).
# Progress: a box-drawing table; at the end an ASCII picture of the learned zero level set.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)


def true_sdf(p):
    disc = mx.sqrt(((p - mx.array([-0.35, 0.0])) ** 2).sum(-1)) - 0.35
    q = mx.abs(p - mx.array([0.35, 0.1])) - mx.array([0.25, 0.2])
    box = mx.sqrt((mx.maximum(q, 0.0) ** 2).sum(-1)) + mx.minimum(mx.max(q, axis=-1), 0.0)
    return mx.minimum(disc, box)


class SDFNet(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.l1 = nn.Linear(2, h)
        self.l2 = nn.Linear(h, h)
        self.l3 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, p):
        h = nn.softplus(self.l1(p) * 4.0) / 4.0
        h = nn.softplus(self.l2(h) * 4.0) / 4.0
        h = nn.softplus(self.l3(h) * 4.0) / 4.0
        return self.out(h).squeeze(-1)


def loss_fn(model, p_fit, p_eik):
    fit = mx.abs(model(p_fit) - true_sdf(p_fit)).mean()
    g = mx.grad(lambda q: model(q).sum())(p_eik)
    gnorm = mx.sqrt((g ** 2).sum(-1) + 1e-12)
    eik = ((gnorm - 1.0) ** 2).mean()
    return fit + 0.1 * eik, (fit, eik, gnorm.mean())


model = SDFNet()
mx.eval(model.parameters())
STEPS = 1200
opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, STEPS, end=5e-5))
vg = nn.value_and_grad(model, loss_fn)

gx = mx.linspace(-1, 1, 81) + 0.0123   # offset so no grid point sits exactly on an edge
grid = mx.stack(mx.meshgrid(gx, gx, indexing="xy"), axis=-1).reshape(-1, 2)
inside_true = true_sdf(grid) < 0


def iou():
    inside = model(grid) < 0
    inter = mx.logical_and(inside, inside_true).sum()
    union = mx.logical_or(inside, inside_true).sum()
    return (inter / union).item()


print("┌──────┬──────────┬──────────┬──────────┬──────────┬────────┐")
print("│ step │   L1 fit │  eikonal │  mean|∇f|│ grid IoU │  secs  │")
print("├──────┼──────────┼──────────┼──────────┼──────────┼────────┤")
t0 = time.time()
for step in range(1, STEPS + 1):
    p_fit = mx.random.uniform(-1, 1, (256, 2))
    p_eik = mx.random.uniform(-1, 1, (256, 2))
    (loss, (fit, eik, gm)), grads = vg(model, p_fit, p_eik)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step == 1 or step % 100 == 0:
        print(f"│ {step:4d} │ {fit.item():8.4f} │ {eik.item():8.4f} │ {gm.item():8.3f} │"
              f" {iou():8.3f} │ {time.time() - t0:6.1f} │", flush=True)
print("└──────┴──────────┴──────────┴──────────┴──────────┴────────┘")

# ASCII picture: '#' learned inside, '.' outside, 'o'/'x' where it disagrees with the truth
pic = mx.linspace(-1, 1, 21) + 0.0123
rows = []
for yv in reversed(pic.tolist()):
    pts = mx.stack([pic, mx.full(pic.shape, yv)], axis=-1)
    mine = (model(pts) < 0).tolist()
    ref = (true_sdf(pts) < 0).tolist()
    rows.append("".join("#" if (m and r) else "." if (not m and not r) else "o" if m else "x"
                        for m, r in zip(mine, ref)))
print("\n".join(rows))
