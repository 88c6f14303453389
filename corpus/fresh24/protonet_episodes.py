# Prototypical networks: episodic few-shot training (5-way, 1-shot, 5 queries/class)
# on synthetic "classes" = random prototypes in a 20-d space seen through a fixed
# nonlinear distortion. Train and test classes are disjoint.
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
N_WAY, K_SHOT, N_QUERY, DIM = 5, 1, 5, 20
N_TRAIN_CLASSES, N_TEST_CLASSES = 400, 100

mix = mx.random.normal((DIM, DIM)) / math.sqrt(DIM)
def distort(v):
    return mx.tanh(v @ mix) + 0.3 * mx.sin(2.0 * v)

train_centres = mx.random.normal((N_TRAIN_CLASSES, DIM)) * 0.9
test_centres = mx.random.normal((N_TEST_CLASSES, DIM)) * 0.9

def episode(centres):
    cls = mx.random.permutation(centres.shape[0])[:N_WAY]
    c = centres[cls]                                       # (N, D)
    n = K_SHOT + N_QUERY
    pts = c[:, None, :] + 0.85 * mx.random.normal((N_WAY, n, DIM))
    pts = distort(pts)
    return pts[:, :K_SHOT], pts[:, K_SHOT:]

class Embed(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(DIM, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 32, bias=False)   # distances are shift-invariant: a bias here gets no gradient
    def __call__(self, x):
        x = nn.relu(self.l1(x))
        x = nn.relu(self.l2(x)) + x
        return self.l3(x)

def proto_logits(model, support, query):
    protos = mx.mean(model(support), axis=1)                 # (N, E)
    q = model(query).reshape(-1, protos.shape[-1])          # (N*Q, E)
    d = mx.sum((q[:, None, :] - protos[None]) ** 2, axis=-1)
    return -d

labels = mx.repeat(mx.arange(N_WAY), N_QUERY)

def loss_fn(model, support, query):
    logits = proto_logits(model, support, query)
    return nn.losses.cross_entropy(logits, labels, reduction="mean")

def acc_of(model, support, query):
    logits = proto_logits(model, support, query)
    return mx.mean(mx.argmax(logits, axis=1) == labels)

model = Embed()
opt = optim.Adam(learning_rate=1e-3)
vg = nn.value_and_grad(model, loss_fn)

def evaluate(n=200):
    accs = []
    for _ in range(n):
        s, q = episode(test_centres)
        accs.append(acc_of(model, s, q).item())
    m = sum(accs) / n
    sd = math.sqrt(sum((a - m) ** 2 for a in accs) / (n - 1))
    return m, 1.96 * sd / math.sqrt(n)

m, ci = evaluate()
print(f"before training: test 5-way 1-shot acc {m*100:.1f}% +- {ci*100:.1f}")
window_loss, window_acc = [], []
for ep in range(1, 3001):
    s, q = episode(train_centres)
    loss, grads = vg(model, s, q)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window_loss.append(loss.item())
    if ep % 25 == 0:
        window_acc.append(acc_of(model, s, q).item())
    if ep % 500 == 0:
        m, ci = evaluate()
        print(f"episodes {ep-499:4d}-{ep:4d}: mean train loss {sum(window_loss)/len(window_loss):.3f} "
              f"(min {min(window_loss):.3f} max {max(window_loss):.3f}) | "
              f"spot train acc {sum(window_acc)/len(window_acc)*100:.0f}% | "
              f"test acc {m*100:.1f}% +- {ci*100:.1f}")
        window_loss, window_acc = [], []
