# Amateur-radio repeater survey: which of 5 linked networks does each repeater
# belong to?  Readings per repeater are noisy, the hand-entered club labels are
# unreliable (about 1 in 5 is off), and repeaters that hear each other tend to
# share a network.  SGC: propagate features twice over the normalised link
# graph, then a linear classifier.  From epoch 120 an entropy term on the
# unlabelled repeaters is ramped in, so the total objective goes up on purpose.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(21)
N, K, F = 500, 5, 16
net = rng.integers(0, K, N)
proto = rng.normal(0, 1, (K, F))
X = proto[net] * 0.45 + rng.normal(0, 1, (N, F))
A = np.zeros((N, N))
for i in range(N):
    for j in range(i + 1, N):
        if rng.random() < (0.05 if net[i] == net[j] else 0.004):
            A[i, j] = A[j, i] = 1.0
A_hat = A + np.eye(N)
dinv = 1.0 / np.sqrt(A_hat.sum(1))
S = dinv[:, None] * A_hat * dinv[None, :]
SX = S @ (S @ X)

perm = rng.permutation(N)
lab, val, test, unl = perm[:150], perm[150:250], perm[250:350], perm[350:]
noisy = net.copy()
flip = rng.random(N) < 0.2
noisy[flip] = (net[flip] + rng.integers(1, K, flip.sum())) % K

xs_prop = mx.array(SX.astype(np.float32))
xs_raw = mx.array(X.astype(np.float32))
y_noisy = mx.array(noisy.astype(np.int32))
y_true = mx.array(net.astype(np.int32))
i_lab, i_val, i_test, i_unl = (mx.array(a) for a in (lab, val, test, unl))
floor = float(flip[lab].mean())
major = float(np.bincount(net[val], minlength=K).max() / len(val))
print(f"repeaters={N} links={int(A.sum() // 2)} labelled={len(lab)} "
      f"label_flip_rate={floor:.2f} majority_val_acc={major:.2f}")


def ent_weight(epoch):
    return 0.0 if epoch < 120 else min(0.6, 0.6 * (epoch - 120) / 120)


def objective(m, x, w):
    logits = m(x)
    ce = nn.losses.cross_entropy(logits[i_lab], y_noisy[i_lab], reduction="mean")
    p = mx.softmax(logits[i_unl], axis=-1)
    ent = -(p * mx.log(p + 1e-9)).sum(-1).mean()
    return ce + w * ent, (ce, ent)


def acc(m, x, idx, y=y_true):
    return (mx.argmax(m(x)[idx], axis=1) == y[idx]).astype(mx.float32).mean().item()


def make():
    m = nn.Linear(F, K)
    o = optim.SGD(learning_rate=0.2, momentum=0.9, weight_decay=5e-4)
    step = nn.value_and_grad(m, objective)
    return m, o, step


mx.random.seed(1)
sgc, opt, step_sgc = make()
raw, opt_raw, step_raw = make()
t0 = time.time()
for epoch in range(1, 301):
    w = ent_weight(epoch)
    (tot, (ce, ent)), g = step_sgc(sgc, xs_prop, w)
    opt.update(sgc, g)
    (_, _), g_raw = step_raw(raw, xs_raw, 0.0)
    opt_raw.update(raw, g_raw)
    mx.eval(sgc.parameters(), raw.parameters(), opt.state, opt_raw.state, tot)
    if epoch == 1 or epoch % 30 == 0:
        print(f"ts={time.time() - t0:5.2f}s epoch={epoch} ent_w={w:.2f} objective={tot.item():.4f} "
              f"ce_noisy={ce.item():.4f} unl_entropy={ent.item():.4f} "
              f"train_acc_vs_noisy={acc(sgc, xs_prop, i_lab, y_noisy):.3f} "
              f"val_acc={acc(sgc, xs_prop, i_val):.3f} raw_feature_val_acc={acc(raw, xs_raw, i_val):.3f}")
print(f"test_acc={acc(sgc, xs_prop, i_test):.3f} raw_feature_test_acc={acc(raw, xs_raw, i_test):.3f} "
      f"majority={major:.3f} elapsed={time.time() - t0:.2f}s")
