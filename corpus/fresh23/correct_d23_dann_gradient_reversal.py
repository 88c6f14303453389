# Unsupervised domain adaptation (DANN): a shared feature extractor is trained
# on labelled source data while a domain classifier, connected through a
# gradient-reversal layer, tries to tell source from (unlabelled) target
# features. The domain loss is *supposed* to climb towards ln 2 as the
# features become domain-invariant.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(21)
D = 10
W_true = rng.standard_normal((D, 3)).astype(np.float32)
shift = np.zeros(D, np.float32); shift[:4] = 2.5          # covariate shift
scale = np.ones(D, np.float32); scale[4:7] = 1.8


def domain(n, target):
    z = rng.standard_normal((n, D)).astype(np.float32)
    y = np.argmax(z @ W_true + 0.3 * rng.standard_normal((n, 3)), axis=1)
    x = z * scale + shift if target else z
    return x.astype(np.float32), y.astype(np.int32)


xs, ys = domain(6000, False)
xt, yt = domain(6000, True)          # yt only used for reporting
xt_test, yt_test = domain(2000, True)


@mx.custom_function
def grad_reverse(x, lam):
    return x


@grad_reverse.vjp
def grad_reverse_vjp(primals, cotangent, output):
    _, lam = primals
    return -lam * cotangent, mx.zeros_like(lam)


class DANN(nn.Module):
    def __init__(self):
        super().__init__()
        self.feat = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.label_head = nn.Linear(32, 3)
        self.domain_head = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))

    def __call__(self, x):
        return self.label_head(self.feat(x))


def loss_fn(model, x_s, y_s, x_t, lam):
    f_s, f_t = model.feat(x_s), model.feat(x_t)
    task = mx.mean(nn.losses.cross_entropy(model.label_head(f_s), y_s))
    f_all = grad_reverse(mx.concatenate([f_s, f_t]), lam)
    d_logit = model.domain_head(f_all).squeeze(-1)
    d_lab = mx.concatenate([mx.zeros(x_s.shape[0]), mx.ones(x_t.shape[0])])
    dom = mx.mean(nn.losses.binary_cross_entropy(d_logit, d_lab, with_logits=True))
    return task + dom, (task, dom)


model = DANN()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1e-3)
step_fn = nn.value_and_grad(model, lambda m, *a: loss_fn(m, *a)[0])


def acc(x, y):
    return mx.mean(mx.argmax(model(mx.array(x)), -1) == mx.array(y)).item()


total_steps, bs = 1500, 64
print(f"{'step':>6} | {'lambda':>6} | {'task_ce':>8} | {'dom_bce':>8} | {'src_acc':>7} | {'tgt_acc':>7}")
print("-" * 58)
run_task, run_dom = 0.0, 0.0
for step in range(1, total_steps + 1):
    p = step / total_steps
    lam = 2.0 / (1.0 + math.exp(-10 * p)) - 1.0            # Ganin & Lempitsky schedule
    i = rng.integers(0, len(xs), bs); j = rng.integers(0, len(xt), bs)
    args = (mx.array(xs[i]), mx.array(ys[i]), mx.array(xt[j]), mx.array(lam))
    _, (task, dom) = loss_fn(model, *args)
    loss, grads = step_fn(model, *args)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, task, dom)
    run_task = 0.95 * run_task + 0.05 * task.item() if step > 1 else task.item()
    run_dom = 0.95 * run_dom + 0.05 * dom.item() if step > 1 else dom.item()
    if step % 100 == 0 or step == 1:
        print(f"{step:>6} | {lam:6.3f} | {run_task:8.4f} | {run_dom:8.4f} | "
              f"{acc(xs[:2000], ys[:2000]):7.3f} | {acc(xt_test, yt_test):7.3f}")
print(f"final: target accuracy {acc(xt_test, yt_test):.3f} (domain loss -> ln2 = {math.log(2):.3f} means invariant features)")
