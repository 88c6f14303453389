"""Co-training for sourdough starter readiness (under / ready / over) from two
independent sensor views: a jar gas sensor (4 readings) and a surface camera
(4 texture readings). Each view's classifier labels the unlabelled jars it is
most sure of for the other view. The run checkpoints after round 3, rebuilds
both classifiers from the file and resumes."""

import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)
K = 3


def jars(n):
    y = rng.integers(0, K, n)
    gas = np.stack([y * 1.1, np.sin(y * 1.7), y ** 2 * 0.3, -y * 0.5], 1) + rng.normal(0, 0.8, (n, 4))
    cam = np.stack([np.cos(y * 1.3), y * 0.9, -y * 0.6, (y == 1) * 1.2], 1) + rng.normal(0, 0.8, (n, 4))
    return gas.astype(np.float32), cam.astype(np.float32), y.astype(np.int32)


g_lab, c_lab, y_lab = jars(30)
g_unl, c_unl, y_unl_hidden = jars(2400)
g_te, c_te, y_te = jars(800)


def mlp():
    return nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, K))


def fit(model, x, y, steps, lr):
    opt = optim.SGD(learning_rate=lr, momentum=0.9)
    lg = nn.value_and_grad(model, lambda m, a, b: nn.losses.cross_entropy(m(a), b, reduction="mean"))
    xa, ya = mx.array(x), mx.array(y)
    for _ in range(steps):
        idx = mx.array(rng.integers(0, len(y), min(64, len(y))))
        loss, g = lg(model, xa[idx], ya[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    return nn.losses.cross_entropy(model(xa), ya, reduction="mean").item()


def acc(model, x, y):
    return mx.mean(mx.argmax(model(mx.array(x)), 1) == mx.array(y)).item()


gas_net, cam_net = mlp(), mlp()
# each view keeps its own growing training set: (indices into unlabelled, labels)
pool_g = {"idx": np.zeros(0, np.int64), "lab": np.zeros(0, np.int32)}
pool_c = {"idx": np.zeros(0, np.int64), "lab": np.zeros(0, np.int32)}
used = np.zeros(len(y_unl_hidden), bool)
ROUNDS, PER_CLASS = 7, 25
ckpt = os.path.join(tempfile.mkdtemp(), "cotrain_round3.npz")
start = 0

print(f"labelled {len(y_lab)}  unlabelled {len(y_unl_hidden)}  test {len(y_te)}")
print(f"{'rnd':>3} {'n_gas':>5} {'n_cam':>5} {'ce_gas':>7} {'ce_cam':>7} {'acc_gas':>7} {'acc_cam':>7} {'acc_both':>8} {'pl_prec':>7}")
r = start
while r < ROUNDS:
    xg = np.concatenate([g_lab, g_unl[pool_g["idx"]]])
    yg = np.concatenate([y_lab, pool_g["lab"]])
    xc = np.concatenate([c_lab, c_unl[pool_c["idx"]]])
    yc = np.concatenate([y_lab, pool_c["lab"]])
    ce_g = fit(gas_net, xg, yg, steps=150, lr=0.05)
    ce_c = fit(cam_net, xc, yc, steps=150, lr=0.05)

    pg = mx.softmax(gas_net(mx.array(g_unl)), 1)
    pc = mx.softmax(cam_net(mx.array(c_unl)), 1)
    both = mx.softmax(gas_net(mx.array(g_te)), 1) * mx.softmax(cam_net(mx.array(c_te)), 1)
    acc_both = mx.mean(mx.argmax(both, 1) == mx.array(y_te)).item()

    # the gas view teaches the camera view and vice versa
    new_prec = []
    for src, dst in ((np.array(pg), pool_c), (np.array(pc), pool_g)):
        conf, lab = src.max(1), src.argmax(1)
        for k in range(K):
            cand = np.where((lab == k) & ~used)[0]
            top = cand[np.argsort(-conf[cand])[:PER_CLASS]]
            used[top] = True
            dst["idx"] = np.concatenate([dst["idx"], top])
            dst["lab"] = np.concatenate([dst["lab"], np.full(len(top), k, np.int32)])
            new_prec.append(np.mean(y_unl_hidden[top] == k) if len(top) else 1.0)
    print(f"{r:>3} {len(yg):>5} {len(yc):>5} {ce_g:7.4f} {ce_c:7.4f} {acc(gas_net, g_te, y_te):7.3f} "
          f"{acc(cam_net, c_te, y_te):7.3f} {acc_both:8.3f} {np.mean(new_prec):7.3f}")
    r += 1

    if r == 3 and start == 0:
        flat = dict(tree_flatten({"gas": gas_net.parameters(), "cam": cam_net.parameters()}))
        extra = {"pg_idx": pool_g["idx"], "pg_lab": pool_g["lab"], "pc_idx": pool_c["idx"],
                 "pc_lab": pool_c["lab"], "used": used, "round": np.array(r)}
        mx.savez(ckpt, **flat, **{k: mx.array(v) for k, v in extra.items()})
        print(f"checkpoint written after round {r}; rebuilding both classifiers from it")
        st = dict(mx.load(ckpt))
        gas_net, cam_net = mlp(), mlp()
        gas_net.update(tree_unflatten([(k[4:], v) for k, v in st.items() if k.startswith("gas.")]))
        cam_net.update(tree_unflatten([(k[4:], v) for k, v in st.items() if k.startswith("cam.")]))
        pool_g = {"idx": np.array(st["pg_idx"]).astype(np.int64), "lab": np.array(st["pg_lab"])}
        pool_c = {"idx": np.array(st["pc_idx"]).astype(np.int64), "lab": np.array(st["pc_lab"])}
        used = np.array(st["used"]).astype(bool)
        start = r = int(st["round"].item())
        print(f"resumed at round {r}: gas acc {acc(gas_net, g_te, y_te):.3f}  cam acc {acc(cam_net, c_te, y_te):.3f}")

print(f"done: {used.sum()} unlabelled jars pseudo-labelled, joint test acc {acc_both:.3f}")
