"""Gradient-free training: OpenAI-style evolution strategies with antithetic
sampling on a flat parameter vector (no value_and_grad anywhere). The fitness
estimate is noisy by design; rank-normalised returns, Adam on the ES estimate."""
import mlx.core as mx
import mlx.optimizers as optim

mx.random.seed(11)

IN, HID = 3, 16
N_PARAMS = IN * HID + HID + HID + 1
POP, SIGMA = 40, 0.08

X = mx.random.uniform(-2, 2, (400, IN))
Y = (mx.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2])[:, None]


def unpack(theta):
    i = 0
    w1 = theta[i:i + IN * HID].reshape(IN, HID); i += IN * HID
    b1 = theta[i:i + HID]; i += HID
    w2 = theta[i:i + HID].reshape(HID, 1); i += HID
    b2 = theta[i:i + 1]
    return w1, b1, w2, b2


def mse(theta):
    w1, b1, w2, b2 = unpack(theta)
    pred = mx.tanh(X @ w1 + b1) @ w2 + b2
    return mx.mean((pred - Y) ** 2)


batched_mse = mx.vmap(mse)
params = {"theta": mx.random.normal((N_PARAMS,)) * 0.3}
opt = optim.Adam(learning_rate=0.03)

for gen in range(1, 401):
    eps = mx.random.normal((POP // 2, N_PARAMS))
    eps = mx.concatenate([eps, -eps])
    losses = batched_mse(params["theta"][None, :] + SIGMA * eps)
    ranks = mx.argsort(mx.argsort(losses)).astype(mx.float32)
    util = ranks / (POP - 1) - 0.5  # higher loss -> larger utility -> descend
    grad_est = (util[:, None] * eps).sum(axis=0) / (POP * SIGMA)
    opt.update(params, {"theta": grad_est})
    mx.eval(params, opt.state)
    if gen % 25 == 0:
        print(f"gen {gen:4d}  pop-mean mse {losses.mean().item():.4f}  "
              f"center mse {mse(params['theta']).item():.4f}")
