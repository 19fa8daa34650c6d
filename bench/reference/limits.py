"""PyTorch side of bench/limits.ts (issue 20): what limits GPT-2 small's
prefill and the d 256 training step, seen from PyTorch on the same host.

    python bench/reference/limits.py ceiling --threads 1,2 --shapes 256x768x2304,... --reps 10
        GFLOP/s of torch.matmul([M, K], [K, N]) in float32 per shape and
        thread count (the thread counts alternate, shape by shape).
    python bench/reference/limits.py prefill DIR --threads 1,2 --tokens 256 --reps 3
        Seconds of one GPT2LMHeadModel forward of a 256-token prompt with
        logits_to_keep=1 (what generate's prefill computes), per thread count;
        then one run under torch.profiler (the last thread count) grouped
        by operator kind, with the GEMMs' FLOPs.
    python bench/reference/limits.py train --threads 1,2 --steps 4 --warmup 2
        Milliseconds of one training step (forward, backward, AdamW) of
        bench/reference/train_gpt.py's model at issue 20's size (vocab 512,
        d 256, 4 heads, 4 layers, batch 8 x 128), per thread count; then one
        step under torch.profiler.

Each prints one JSON line. The prompt is bench/decode.ts's: token i is
(i * 97 + 13) % vocab.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

# Operator kinds, by aten name (self time, so nested calls are not counted twice).
GEMM = {"aten::addmm", "aten::mm", "aten::bmm", "aten::baddbmm", "aten::addbmm", "aten::matmul", "aten::linear"}
ATTENTION_WORDS = ("attention", "softmax", "masked_fill", "where", "tril", "triu")
NORM_WORDS = ("layer_norm",)
COPY_WORDS = ("copy", "clone", "contiguous", "cat", "transpose", "permute", "view", "reshape",
              "expand", "split", "slice", "select", "unsqueeze", "squeeze", "t", "empty", "zero",
              "fill", "detach", "as_strided", "to", "_to_copy", "unbind", "narrow", "stack")
EMBED_WORDS = ("embedding", "index_select", "index", "arange")
LOSS_WORDS = ("cross_entropy", "nll_loss", "log_softmax")
OPTIM_WORDS = ("_foreach", "adam", "lerp", "addcmul", "addcdiv", "sqrt", "_fused")


def kind_of(name: str) -> str:
    if name in GEMM:
        return "GEMM (addmm, mm, bmm)"
    short = name.removeprefix("aten::")
    if any(w in short for w in LOSS_WORDS):
        return "loss"
    if any(w in short for w in ATTENTION_WORDS):
        return "attention (sdpa, softmax, masks)"
    if any(w in short for w in NORM_WORDS):
        return "norms"
    if any(w in short for w in EMBED_WORDS):
        return "embeddings"
    if any(w in short for w in OPTIM_WORDS):
        return "optimizer"
    if short in COPY_WORDS or any(short.startswith(w + "_") for w in COPY_WORDS):
        return "copies, views, transposes"
    if name.startswith("aten::"):
        return "elementwise and other aten ops"
    return "Python, autograd and optimizer bookkeeping"


def profile(run) -> dict:
    """One call of `run` under torch.profiler: self CPU ms and GEMM FLOPs by operator kind."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    start = time.perf_counter()
    with torch_profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        run()
    wall_ms = (time.perf_counter() - start) * 1000
    groups: dict[str, dict] = {}
    total = 0.0
    for e in prof.key_averages():
        ms = e.self_cpu_time_total / 1000
        if ms <= 0:
            continue
        # Top-level Python/optimizer ranges (not aten::) contain aten ops: their self time is what they did themselves.
        g = groups.setdefault(kind_of(e.key), {"ms": 0.0, "calls": 0, "gflop": 0.0})
        g["ms"] += ms
        g["calls"] += e.count
        g["gflop"] += (e.flops or 0) / 1e9
        total += ms
    return {"wall_ms": wall_ms, "self_ms": total, "groups": groups}


def thread_counts(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t]


def ceiling(args: argparse.Namespace) -> dict:
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")]
    out: dict[str, dict[str, float]] = {str(t): {} for t in thread_counts(args.threads)}
    torch.manual_seed(0)
    for m, k, n in shapes:
        a = torch.randn(m, k)
        b = torch.randn(k, n)
        for t in thread_counts(args.threads):
            torch.set_num_threads(t)
            for _ in range(2):
                torch.matmul(a, b)
            times = []
            for _ in range(args.reps):
                start = time.perf_counter()
                torch.matmul(a, b)
                times.append(time.perf_counter() - start)
            out[str(t)][f"{m}x{k}x{n}"] = 2 * m * k * n / statistics.median(times) / 1e9
    return {"gflops": out}


def prefill(args: argparse.Namespace) -> dict:
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(args.folder, torch_dtype=torch.float32)
    model.eval()
    vocab = model.config.vocab_size
    ids = torch.tensor([[(i * 97 + 13) % vocab for i in range(args.tokens)]])

    def run() -> None:
        with torch.no_grad():
            model(ids, logits_to_keep=1).logits.sum().item()

    seconds: dict[str, list[float]] = {str(t): [] for t in thread_counts(args.threads)}
    for t in thread_counts(args.threads):
        torch.set_num_threads(t)
        run()  # warm-up per thread count
    for _ in range(args.reps):
        for t in thread_counts(args.threads):
            torch.set_num_threads(t)
            start = time.perf_counter()
            run()
            seconds[str(t)].append(time.perf_counter() - start)
    result = {"seconds": {t: statistics.median(s) for t, s in seconds.items()}, "all": seconds}
    if args.profile:
        torch.set_num_threads(thread_counts(args.threads)[-1])
        result["profile"] = profile(run)
    return result


def train(args: argparse.Namespace) -> dict:
    import torch.nn.functional as F

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from train_gpt import Gpt  # the model bench:train compares against

    vocab, d, heads, layers, seq, batch = 512, 256, 4, 4, 128, 8
    torch.manual_seed(0)
    model = Gpt(vocab, d, heads, layers, seq)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    ids = torch.randint(0, vocab, (batch, seq))
    targets = torch.randint(0, vocab, (batch, seq))

    def step() -> None:
        loss = F.cross_entropy(model(ids).reshape(-1, vocab), targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()

    ms: dict[str, list[float]] = {str(t): [] for t in thread_counts(args.threads)}
    for t in thread_counts(args.threads):
        torch.set_num_threads(t)
        for _ in range(args.warmup):
            step()
    for _ in range(args.steps):
        for t in thread_counts(args.threads):
            torch.set_num_threads(t)
            start = time.perf_counter()
            step()
            ms[str(t)].append((time.perf_counter() - start) * 1000)
    result = {"step_ms": {t: statistics.median(v) for t, v in ms.items()}, "all": ms}
    if args.profile:
        torch.set_num_threads(thread_counts(args.threads)[-1])
        result["profile"] = profile(step)
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["ceiling", "prefill", "train"])
    p.add_argument("folder", nargs="?")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--shapes", default="256x768x3072")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--tokens", type=int, default=256)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    result = {"ceiling": ceiling, "prefill": prefill, "train": train}[args.mode](args)
    cpu = torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else "unknown"
    result.update({"torch": torch.__version__, "cpu_capability": cpu})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
