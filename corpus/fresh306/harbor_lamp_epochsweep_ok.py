import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
rng = np.random.default_rng(0)

IMG = 28
S_GRID = 7
N_BOX = 2
N_CLS = 4


class LampDataset:
    """Synthetic harbor-lamp frames: one bright rectangle per image."""

    def __init__(self, n):
        self.images = np.zeros((n, IMG, IMG, 3), np.float32)
        self.targets = np.zeros((n, S_GRID, S_GRID, 5 + N_CLS), np.float32)
        for i in range(n):
            cls = rng.integers(N_CLS)
            w, h = rng.uniform(0.15, 0.45, size=2)
            cx = rng.uniform(w / 2, 1 - w / 2)
            cy = rng.uniform(h / 2, 1 - h / 2)
            x0, x1 = int((cx - w / 2) * IMG), int((cx + w / 2) * IMG)
            y0, y1 = int((cy - h / 2) * IMG), int((cy + h / 2) * IMG)
            self.images[i, y0:y1, x0:x1, cls % 3] = 1.0
            self.images[i, y0:y1, x0:x1, (cls + 1) % 3] = 0.5 * (cls // 3)
            gx, gy = min(int(cx * S_GRID), S_GRID - 1), min(int(cy * S_GRID), S_GRID - 1)
            self.targets[i, gy, gx, :4] = [cx, cy, w, h]
            self.targets[i, gy, gx, 4] = 1.0
            self.targets[i, gy, gx, 5 + cls] = 1.0
        self.images += rng.normal(0, 0.05, self.images.shape).astype(np.float32)


def create_data_loader(ds, batch_size):
    idx = rng.permutation(len(ds.images))
    for s in range(0, len(idx), batch_size):
        j = idx[s:s + batch_size]
        yield mx.array(ds.images[j]), mx.array(ds.targets[j])


class YOLO(nn.Module):
    def __init__(self, S=S_GRID, B=N_BOX, C=N_CLS):
        super().__init__()
        self.S, self.B, self.C = S, B, C
        patch = (IMG // S) ** 2 * 3
        self.embed = nn.Linear(patch, 256)
        self.ctx = nn.Linear(256, 256)
        self.neck = nn.Linear(512, 768)
        self.mix = nn.Linear(768, 768)
        self.head = nn.Linear(768, B * 5 + C)

    def __call__(self, x):
        n, p = x.shape[0], IMG // self.S
        x = x.reshape(n, self.S, p, self.S, p, 3).transpose(0, 1, 3, 2, 4, 5)
        x = nn.gelu(self.embed(x.reshape(n, self.S, self.S, -1)))
        g = nn.gelu(self.ctx(mx.mean(x, axis=(1, 2), keepdims=True)))
        x = mx.concatenate([x, mx.broadcast_to(g, x.shape)], axis=-1)
        x = nn.gelu(self.neck(x))
        x = nn.gelu(self.mix(x))
        return self.head(x)


def bbox_loss(predictions, targets, model):
    """Coordinate regression on the responsible cells only."""
    batch_size = predictions.shape[0]
    S = model.S
    B = model.B

    pred = mx.reshape(predictions[..., : B * 4], (batch_size, S, S, B, 4))
    targ = mx.reshape(targets[..., :4], (batch_size, S, S, 1, 4))
    targ = mx.repeat(targ, B, axis=3)

    pred_xy = pred[..., :2]
    pred_wh = pred[..., 2:4]
    targ_xy = targ[..., :2]
    targ_wh = targ[..., 2:4]

    obj_mask = mx.squeeze(mx.reshape(targets[..., 4:5], (batch_size, S, S, 1)), axis=-1)
    obj_mask = mx.repeat(mx.expand_dims(obj_mask, axis=-1), B, axis=-1)

    xy_loss = mx.sum(mx.square(pred_xy - targ_xy), axis=-1) / (S * S)
    wh_loss = mx.sum(
        mx.square(mx.sqrt(mx.maximum(pred_wh, 1e-6)) - mx.sqrt(mx.maximum(targ_wh, 1e-6))),
        axis=-1,
    )
    coord_loss = obj_mask * (xy_loss + 0.5 * wh_loss)
    num_objects = mx.sum(obj_mask) + 1e-6
    total_loss = 2.0 * mx.sum(coord_loss) / num_objects

    xy_total = mx.sum(obj_mask * xy_loss)
    wh_total = mx.sum(obj_mask * wh_loss)
    return total_loss, (xy_total, wh_total, num_objects)


def train_step(model, batch, optimizer):
    images, targets = batch

    def loss_fn(model, images, targets):
        return bbox_loss(model(images), targets, model)

    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)
    (loss, (xy_total, wh_total, num_objects)), grads = loss_and_grad_fn(model, images, targets)
    optimizer.update(model, grads)
    components = {
        "xy": xy_total.item() / num_objects.item(),
        "wh": wh_total.item() / num_objects.item(),
    }
    return loss, components


def validate(model, ds, batch_size):
    tot, n = 0.0, 0
    for images, targets in create_data_loader(ds, batch_size):
        loss, _ = bbox_loss(model(images), targets, model)
        tot += loss.item()
        n += 1
    return tot / n


def main():
    batch_size = 4
    num_epochs = 3
    learning_rate = 3e-4

    train_dataset = LampDataset(96)
    val_dataset = LampDataset(24)

    model = YOLO()
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=learning_rate)
    print(f"{'Epoch':>6} {'Loss':>8} {'XY Loss':>8} {'WH Loss':>8} {'Val Loss':>9} {'Time(s)':>8} {'Peak MB':>8}")

    for epoch in range(num_epochs):
        model.train()
        epoch_loss = 0
        epoch_xy_loss = 0
        epoch_wh_loss = 0
        num_batches = 0
        start_time = time.time()

        for batch_idx, batch in enumerate(create_data_loader(train_dataset, batch_size)):
            loss, components = train_step(model, batch, optimizer)

            mx.eval(loss, components)

            epoch_loss += loss.item()
            epoch_xy_loss += components["xy"]
            epoch_wh_loss += components["wh"]
            num_batches += 1

        avg_loss = epoch_loss / num_batches
        avg_xy_loss = epoch_xy_loss / num_batches
        avg_wh_loss = epoch_wh_loss / num_batches
        epoch_time = time.time() - start_time

        model.eval()
        val_loss = validate(model, val_dataset, batch_size)
        peak = mx.get_peak_memory() / 2**20
        print(f"{epoch + 1:>3}/{num_epochs:<2} {avg_loss:8.4f} {avg_xy_loss:8.4f} {avg_wh_loss:8.4f} "
              f"{val_loss:9.4f} {epoch_time:8.2f} {peak:8.1f}")


if __name__ == "__main__":
    main()
