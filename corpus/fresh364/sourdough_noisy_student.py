import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
K, D = 4, 7
names = ["sluggish", "steady", "vigorous", "overproofed"]
centers = rng.normal(0, 1.6, size=(K, D))

def make(n):
    y = rng.integers(0, K, size=n)
    x = centers[y] + rng.normal(0, 1.0, size=(n, D))
    x[:, 0] += 0.6 * np.tanh(x[:, 1] * x[:, 2])
    return x.astype(np.float32), y.astype(np.int32)

xl, yl = make(200)
xu, yu_hidden = make(8000)
xt, yt = make(2000)
mu, sd = xl.mean(0), xl.std(0) + 1e-6
xl, xu, xt = [(a - mu) / sd for a in (xl, xu, xt)]

class Net(nn.Module):
    def __init__(self, width, p):
        super().__init__()
        self.l1 = nn.Linear(D, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, K)
        self.drop = nn.Dropout(p)
    def __call__(self, x):
        h = self.drop(nn.gelu(self.l1(x)))
        h = self.drop(nn.gelu(self.l2(h)))
        return self.out(h)

def soft_ce(model, x, q):
    logp = nn.log_softmax(model(x), axis=-1)
    return -(q * logp).sum(-1).mean()

def fit(model, x, q, epochs, lr, noise, tag):
    opt = optim.AdamW(learning_rate=optim.cosine_decay(lr, epochs * ((len(x) + 127) // 128), lr * 0.05), weight_decay=1e-3)
    vg = nn.value_and_grad(model, soft_ce)
    model.train()
    for ep in range(epochs):
        perm = rng.permutation(len(x))
        tot, nb = 0.0, 0
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            xb = x[idx] + noise * rng.normal(size=(len(idx), D)).astype(np.float32)
            loss, g = vg(model, mx.array(xb), mx.array(q[idx]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
    model.eval()
    return tot / nb

def predict(model, x):
    model.eval()
    return mx.softmax(model(mx.array(x)), axis=-1)

def acc(model, x, y):
    return float((np.array(predict(model, x)).argmax(1) == y).mean())

# nearest-centroid baseline from the labelled rows
cents = np.stack([xl[yl == k].mean(0) for k in range(K)])
base = float((((xt[:, None, :] - cents[None]) ** 2).sum(-1).argmin(1) == yt).mean())

print("round,model,width,dropout,input_noise,train_rows,pseudo_kept,pseudo_acc_pct,final_soft_ce,test_acc_pct,baseline_acc_pct,secs")
t0 = time.time()
onehot = np.eye(K, dtype=np.float32)
teacher = Net(32, 0.0)
ce = fit(teacher, xl, onehot[yl], 60, 3e-3, 0.0, "teacher")
print(f"0,teacher,32,0.0,0.0,{len(xl)},0,,{ce:.4f},{100*acc(teacher, xt, yt):.2f},{100*base:.2f},{time.time()-t0:.1f}")

for r, (width, p, noise) in enumerate([(64, 0.2, 0.3), (96, 0.3, 0.4), (128, 0.3, 0.5)], start=1):
    probs = np.array(predict(teacher, xu))
    conf, lab = probs.max(1), probs.argmax(1)
    keep = conf >= 0.8
    q_pseudo = onehot[lab[keep]]
    x_all = np.concatenate([xl, xu[keep]])
    q_all = np.concatenate([onehot[yl], q_pseudo])
    student = Net(width, p)
    ce = fit(student, x_all, q_all, 12, 2e-3, noise, f"student{r}")
    pacc = float((lab[keep] == yu_hidden[keep]).mean())
    print(f"{r},student,{width},{p},{noise},{len(x_all)},{int(keep.sum())},{100*pacc:.2f},{ce:.4f},{100*acc(student, xt, yt):.2f},{100*base:.2f},{time.time()-t0:.1f}")
    teacher = student
print(f"done,,,,,,,,,{100*acc(teacher, xt, yt):.2f},{100*base:.2f},{time.time()-t0:.1f}")
