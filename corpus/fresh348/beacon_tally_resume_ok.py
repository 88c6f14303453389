import os
import json
import time
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

IMG = 32
GRID = 4
CELL = IMG // GRID


class TinyYOLO(nn.Module):
    """Small grid detector: per cell (objectness, x, y, w, h)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
        self.head = nn.Conv2d(32, 5, 1)
        self.pool = nn.MaxPool2d(2, 2)

    def __call__(self, x):
        x = self.pool(nn.leaky_relu(self.conv1(x), 0.1))
        x = self.pool(nn.leaky_relu(self.conv2(x), 0.1))
        x = self.pool(nn.leaky_relu(self.conv3(x), 0.1))
        return self.head(x)  # (B, GRID, GRID, 5)


def yolo_loss(pred, target, l_coord=5.0, l_noobj=0.5):
    obj = target[..., 0]
    p_obj = mx.sigmoid(pred[..., 0])
    p_box = mx.sigmoid(pred[..., 1:5])
    coord = mx.sum(obj[..., None] * (p_box - target[..., 1:5]) ** 2)
    conf_obj = mx.sum(obj * (p_obj - 1.0) ** 2)
    conf_noobj = mx.sum((1 - obj) * p_obj**2)
    return (l_coord * coord + conf_obj + l_noobj * conf_noobj) / pred.shape[0]


def make_dataset(n, seed):
    rng = np.random.default_rng(seed)
    imgs = np.zeros((n, IMG, IMG, 1), np.float32)
    tgts = np.zeros((n, GRID, GRID, 5), np.float32)
    for i in range(n):
        w, h = rng.integers(4, 12, size=2)
        x0 = rng.integers(0, IMG - w)
        y0 = rng.integers(0, IMG - h)
        imgs[i, y0 : y0 + h, x0 : x0 + w, 0] = 1.0
        cx, cy = x0 + w / 2, y0 + h / 2
        gx, gy = int(cx // CELL), int(cy // CELL)
        tgts[i, gy, gx] = [1.0, cx / CELL - gx, cy / CELL - gy, w / IMG, h / IMG]
    imgs += rng.normal(0, 0.05, imgs.shape).astype(np.float32)
    return imgs, tgts


def create_data_loader(data, batch_size, shuffle, seed):
    imgs, tgts = data
    idx = np.arange(len(imgs))
    if shuffle:
        np.random.default_rng(seed).shuffle(idx)
    xs, ys = [], []
    for s in range(0, len(idx), batch_size):
        b = idx[s : s + batch_size]
        xs.append(mx.array(imgs[b]))
        ys.append(mx.array(tgts[b]))
    return xs, ys


def save_checkpoint(model, optimizer, epoch, loss, save_dir):
    """Save model checkpoint"""
    os.makedirs(save_dir, exist_ok=True)
    try:
        save_path = os.path.join(save_dir, f"yolo_epoch_{epoch}.npz")
        model.save_weights(save_path)
        print(f"Successfully saved model to {save_path}")
    except Exception as e:
        print(f"Error saving model state: {str(e)}")
        raise

    save_path = os.path.join(save_dir, f"optimizer_epoch_{epoch}.npz")
    save_dict = {
        "learning_rate": mx.array(optimizer.learning_rate, dtype=mx.float32),
        "step": mx.array(optimizer.state.get("step", 0), dtype=mx.int32),
    }
    mx.savez(save_path, **save_dict)

    info = {"epoch": epoch, "loss": loss}
    with open(os.path.join(save_dir, f"info_epoch_{epoch}.json"), "w") as f:
        json.dump(info, f)


def load_checkpoint(model, optimizer, checkpoint_dir, epoch):
    """Load model checkpoint"""
    try:
        model_path = os.path.join(checkpoint_dir, f"yolo_epoch_{epoch}.npz")
        print(f"Loading model from {model_path}")
        model.load_weights(model_path)

        optimizer_path = os.path.join(checkpoint_dir, f"optimizer_epoch_{epoch}.npz")
        opt_dict = mx.load(optimizer_path)
        optimizer.learning_rate = float(opt_dict["learning_rate"])
        if "step" in opt_dict:
            optimizer.state["step"] = int(opt_dict["step"])

        with open(os.path.join(checkpoint_dir, f"info_epoch_{epoch}.json")) as f:
            info = json.load(f)
        print(f"Successfully loaded checkpoint from epoch {epoch}")
        print(f"Previous loss: {info['loss']:.4f}")
        return epoch, info["loss"]
    except Exception as e:
        print(f"Error loading checkpoint: {str(e)}")
        raise


def evaluate(model, data):
    xs, ys = create_data_loader(data, 64, False, 0)
    tot, hits, n = 0.0, 0, 0
    for x, y in zip(xs, ys):
        p = model(x)
        tot += yolo_loss(p, y).item() * x.shape[0]
        pc = mx.argmax(p[..., 0].reshape(x.shape[0], -1), axis=1)
        tc = mx.argmax(y[..., 0].reshape(x.shape[0], -1), axis=1)
        hits += mx.sum(pc == tc).item()
        n += x.shape[0]
    return tot / n, hits / n


def train(train_data, val_data, save_dir, num_epochs=8, batch_size=32,
          accumulation_steps=2, learning_rate=2e-3, resume_epoch=None):
    mx.random.seed(1 if resume_epoch is None else 7)
    model = TinyYOLO()
    optimizer = optim.Adam(learning_rate=learning_rate, betas=[0.9, 0.999], eps=1e-8)

    start_epoch = 0
    if resume_epoch is not None:
        start_epoch, last_loss = load_checkpoint(model, optimizer, save_dir, resume_epoch)
        print(f"Resumed from epoch {start_epoch} with loss {last_loss:.4f}")
        model.train(True)
        vl, acc = evaluate(model, val_data)
        print(f"After resume: val_loss={vl:.4f} cell_acc={acc:.3f}")

    for epoch in range(start_epoch, num_epochs):
        model.train(True)
        epoch_loss = 0.0
        t0 = time.time()
        xs, ys = create_data_loader(train_data, batch_size, True, epoch)
        accumulated_grads = None
        for batch_idx, (images, targets) in enumerate(zip(xs, ys)):

            def loss_fn(params):
                model.update(params)
                return yolo_loss(model(images), targets)

            loss, grads = mx.value_and_grad(loss_fn)(model.parameters())
            grads = tree_map(lambda g: g / accumulation_steps, grads)
            if accumulated_grads is None:
                accumulated_grads = grads
            else:
                accumulated_grads = tree_map(lambda a, b: a + b, accumulated_grads, grads)
            if (batch_idx + 1) % accumulation_steps == 0:
                optimizer.update(model, accumulated_grads)
                accumulated_grads = None
                mx.eval(model.parameters())
            epoch_loss += loss.item()

        if accumulated_grads is not None:
            optimizer.update(model, accumulated_grads)
            mx.eval(model.parameters())

        avg_loss = epoch_loss / len(xs)
        vl, acc = evaluate(model, val_data)
        print(f"Epoch [{epoch+1}/{num_epochs}], Average Loss: {avg_loss:.4f}, "
              f"val_loss: {vl:.4f}, cell_acc: {acc:.3f}, Time: {time.time()-t0:.2f}s")
        if (epoch + 1) % 4 == 0 or epoch == num_epochs - 1:
            save_checkpoint(model, optimizer, epoch + 1, avg_loss, save_dir)
    return model


if __name__ == "__main__":
    train_data = make_dataset(512, 0)
    val_data = make_dataset(128, 1)
    with tempfile.TemporaryDirectory() as ckpt:
        print("== session 1: epochs 1-4")
        train(train_data, val_data, ckpt, num_epochs=4)
        print("== session 2: resume from epoch 4, train to 8")
        model = train(train_data, val_data, ckpt, num_epochs=8, resume_epoch=4)
        vl, acc = evaluate(model, val_data)
        print(f"final val_loss={vl:.4f} cell_acc={acc:.3f}")
