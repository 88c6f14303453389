# Transfer-learning style loop with a hand-written momentum SGD.
# A pretrained "backbone" layer is frozen; only the head is updated.
# Gradients are accumulated into per-layer buffers (micro-batch accumulation).
import resource, sys, time
import mlx.core as mx
import mlx.nn as nn

mx.random.seed(0)
D_IN, D_H, N_CLS = 256, 512, 10

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(D_IN, D_H)
        self.head = nn.Linear(D_H, N_CLS)
    def __call__(self, x):
        return self.head(nn.relu(self.backbone(x)))

net = Net()
mx.eval(net.parameters())
frozen = {"backbone"}
grad_buf = {}   # layer -> accumulated grads
mom = {}

W_true = mx.random.normal((D_IN, N_CLS))
def batch(bs=256):
    x = mx.random.normal((bs, D_IN))
    return x, mx.argmax(x @ W_true, axis=1)

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")
vg = nn.value_and_grad(net, loss_fn)

def sgd_step(lr=0.05, m=0.9):
    params = net.parameters()
    for layer, g in grad_buf.items():
        if layer in frozen:
            continue
        for k in g:
            v = m * mom.get((layer, k), 0.0) - lr * g[k]
            mom[(layer, k)] = v
            params[layer][k] = params[layer][k] + v
        grad_buf[layer] = {k: mx.zeros_like(a) for k, a in g.items()}
    net.update(params)
    mx.eval(net.parameters(), [v for v in mom.values()])

def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

t0 = time.time()
for step in range(1, 601):
    x, y = batch()
    loss, grads = vg(net, x, y)
    for layer, g in grads.items():
        if layer not in grad_buf:
            grad_buf[layer] = g
        else:
            grad_buf[layer] = {k: grad_buf[layer][k] + g[k] for k in g}
    sgd_step()
    if step % 50 == 0:
        x_te, y_te = batch(1024)
        acc = (mx.argmax(net(x_te), axis=1) == y_te).mean().item()
        print(f"step {step:4d} | loss {loss.item():.4f} | acc {acc:.3f} | maxrss {rss_mb():8.1f} MB | {time.time()-t0:5.1f}s", flush=True)
