# Fine-tune a "pretrained" kiln-temperature regressor in bfloat16 with a
# hand-rolled Adam (mixed precision: bf16 weights/activations, fp32 moments).
import time
import mlx.core as mx

mx.random.seed(7)
D, H, N = 8, 16, 256
LR, STEPS = 1e-3, 1200
B1, B2, EPS = 0.9, 0.999, 1e-8


def signed(shape, lo=0.5, hi=1.5):
    s = mx.where(mx.random.uniform(shape=shape) > 0.5, 1.0, -1.0)
    return s * mx.random.uniform(lo, hi, shape)


def forward(p, x):
    h = mx.tanh(x @ p["w1"] + p["b1"])
    return (h @ p["w2"] + p["b2"]).squeeze(-1)


# "checkpoint" from the source kiln, and the target kiln it must adapt to
ckpt = {"w1": signed((D, H)), "b1": signed((H,)), "w2": signed((H, 1)), "b2": signed((1,))}
teacher = {k: v + 0.08 * mx.random.normal(v.shape) for k, v in ckpt.items()}
X = 0.3 * mx.random.normal((N, D))
Y = forward(teacher, X)
Xv = 0.3 * mx.random.normal((64, D))
Yv = forward(teacher, Xv)

params = {k: v.astype(mx.bfloat16) for k, v in ckpt.items()}
Xb, Xvb = X.astype(mx.bfloat16), Xv.astype(mx.bfloat16)


def loss_fn(p, x, y):
    return mx.mean((forward(p, x).astype(mx.float32) - y) ** 2)


grad_fn = mx.value_and_grad(loss_fn)
m = {k: mx.zeros(v.shape, mx.float32) for k, v in params.items()}
v = {k: mx.zeros(v.shape, mx.float32) for k, v in params.items()}

t0 = time.time()
print(f"finetune kiln regressor: bf16 params, lr={LR}, steps={STEPS}")
for step in range(1, STEPS + 1):
    loss, grads = grad_fn(params, Xb, Y)
    for k in params:
        g = grads[k].astype(mx.float32)
        m[k] = B1 * m[k] + (1 - B1) * g
        v[k] = B2 * v[k] + (1 - B2) * g * g
        m_hat = m[k] / (1 - B1 ** step)
        v_hat = v[k] / (1 - B2 ** step)
        p32 = params[k].astype(mx.float32)
        p32 = p32 - LR * m_hat / (mx.sqrt(v_hat) + EPS)
        params[k] = p32.astype(mx.bfloat16)
    mx.eval(params, m, v, loss)
    if step % 100 == 0 or step == 1:
        val = loss_fn(params, Xvb, Yv)
        print(f"step {step:4d} | train_mse {loss.item():.6f} | val_mse {val.item():.6f}")
print(f"done in {time.time() - t0:.1f}s")
