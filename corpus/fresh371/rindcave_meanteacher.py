import os, json, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten, tree_unflatten

# Cheese cave: rind stage (young / bloomy / ripe / over-ripe) from 7 cave readings
# (humidity, CO2, ammonia, rind pH, surface temp, mould cover index, weight loss %).
rng = np.random.default_rng(11)
K, D = 4, 7
proto = rng.normal(0, 1.3, size=(K, D)).astype(np.float32)
def make(n):
    y = rng.integers(0, K, size=n)
    x = proto[y] + rng.normal(0, 0.9, size=(n, D))
    x[:, 6] += 0.4 * y  # weight loss drifts with age
    return x.astype(np.float32), y.astype(np.int32)
xl, yl = make(40); xu, _ = make(4000); xt, yt = make(1500)
m, s = xu.mean(0), xu.std(0)
xl, xu, xt = (xl - m) / s, (xu - m) / s, (xt - m) / s
XL, YL, XU, XT, YT = map(mx.array, (xl, yl, xu, xt, yt))

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(D, 48); self.b = nn.Linear(48, 48); self.c = nn.Linear(48, K)
    def __call__(self, x):
        return self.c(nn.silu(self.b(nn.silu(self.a(x)))))

def accuracy(net, x, y):
    return (mx.argmax(net(x), axis=1) == y).mean().item()

def noisy(x):
    return x + 0.25 * mx.random.normal(x.shape)

TOTAL, WARM, PRINT_EVERY, SPLIT = 900, 150, 150, 450
def lr_at(step):
    return 3e-4 * min(step, WARM) / WARM      # step 0 -> lr exactly 0

def cons_weight(step):
    return 0.0 if step < 100 else 2.0 * min(1.0, (step - 100) / 300)

def ema_decay(step):
    return min(0.99, 1 - 1 / (step + 1))

def loss_fn(student, xb, yb, xu_s, t_probs, w):
    ce = nn.losses.cross_entropy(student(xb), yb, reduction="mean")
    logp = nn.log_softmax(student(xu_s), axis=1)
    kl = mx.mean(mx.sum(t_probs * (mx.log(t_probs + 1e-8) - logp), axis=1))
    return ce + w * kl, (ce, kl)

def session(start, stop, ckpt_dir):
    student, teacher = Net(), Net()
    opt = optim.Lion(learning_rate=0.0, weight_decay=1e-3)
    if start == 0:
        teacher.update(tree_map(lambda p: p, student.parameters()))
    else:
        student.load_weights(os.path.join(ckpt_dir, "student.safetensors"))
        teacher.load_weights(os.path.join(ckpt_dir, "teacher.safetensors"))
        opt.init(student.trainable_parameters())
        st = dict(mx.load(os.path.join(ckpt_dir, "opt.safetensors")))
        opt.state = tree_unflatten(list(st.items()))
        print(f"# resumed at step {start}: student acc {accuracy(student, XT, YT):.4f}  "
              f"teacher acc {accuracy(teacher, XT, YT):.4f}", flush=True)
    mx.eval(student.parameters(), teacher.parameters())
    vg = nn.value_and_grad(student, loss_fn)
    win = []
    for step in range(start, stop):
        opt.learning_rate = lr_at(step)
        li = mx.array(rng.integers(0, XL.shape[0], size=20).astype(np.int32))
        ui = mx.array(rng.integers(0, XU.shape[0], size=128).astype(np.int32))
        xub = XU[ui]
        t_probs = mx.stop_gradient(mx.softmax(teacher(noisy(xub)), axis=1))
        (loss, (ce, kl)), g = vg(student, noisy(XL[li]), YL[li], noisy(xub), t_probs, cons_weight(step))
        opt.update(student, g)
        a = ema_decay(step)
        teacher.update(tree_map(lambda t, p: a * t + (1 - a) * p,
                                teacher.parameters(), student.parameters()))
        mx.eval(student.parameters(), teacher.parameters(), opt.state, loss)
        win.append((loss.item(), ce.item(), kl.item()))
        if (step + 1) % PRINT_EVERY == 0:
            w = np.array(win); win = []
            print(f"{step + 1:>5} {lr_at(step):>9.2e} {cons_weight(step):>5.2f} {w[:,0].mean():>8.4f} "
                  f"{w[:,1].mean():>8.4f} {w[:,2].mean():>8.5f} {accuracy(student, XT, YT):>7.4f} "
                  f"{accuracy(teacher, XT, YT):>7.4f}", flush=True)
    student.save_weights(os.path.join(ckpt_dir, "student.safetensors"))
    teacher.save_weights(os.path.join(ckpt_dir, "teacher.safetensors"))
    mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    return student, teacher

def supervised_only():
    net = Net(); opt = optim.Lion(learning_rate=0.0, weight_decay=1e-3)
    vg = nn.value_and_grad(net, lambda n, x, y: nn.losses.cross_entropy(n(x), y, reduction="mean"))
    for step in range(TOTAL):
        opt.learning_rate = lr_at(step)
        li = mx.array(rng.integers(0, XL.shape[0], size=20).astype(np.int32))
        l, g = vg(net, noisy(XL[li]), YL[li]); opt.update(net, g)
        mx.eval(net.parameters(), opt.state)
    return accuracy(net, XT, YT)

mx.random.seed(5)
t0 = time.time()
print(f"# labelled {XL.shape[0]}  unlabelled {XU.shape[0]}  test {XT.shape[0]}  chance 0.25  "
      f"majority {np.bincount(yt).max() / len(yt):.4f}", flush=True)
print(f"{'step':>5} {'lr':>9} {'w':>5} {'total':>8} {'ce':>8} {'kl':>8} {'stud':>7} {'teach':>7}")
with tempfile.TemporaryDirectory() as d:
    session(0, SPLIT, d)
    student, teacher = session(SPLIT, TOTAL, d)
base = supervised_only()
print(json.dumps({"student_acc": round(accuracy(student, XT, YT), 4),
                  "teacher_acc": round(accuracy(teacher, XT, YT), 4),
                  "supervised_only_acc": round(base, 4), "secs": round(time.time() - t0, 2)}))
