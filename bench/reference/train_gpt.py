"""PyTorch CPU reference for bench/training.ts: the same GPT-2-style model
(learned positions, pre-norm LayerNorm eps 1e-5, GELU-tanh MLP of width 4d,
biases, tied embeddings), trained with AdamW on random tokens; prints one
JSON line with the median training tokens/s and the thread count.

    python bench/reference/train_gpt.py --vocab 64 --d 128 --heads 4 --layers 2 --seq 128 --batch 8
"""

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d, eps=1e-5)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d, eps=1e-5)
        self.fc = nn.Linear(d, 4 * d)
        self.out = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        shape = (b, t, self.heads, d // self.heads)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)
            mask = torch.ones(t, t, dtype=torch.bool).triu(1)
            y = scores.masked_fill(mask, float("-inf")).softmax(-1) @ v
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, vocab: int, d: int, heads: int, layers: int, seq: int):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(seq, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d, eps=1e-5)
        # GPT-2's (and initDecoderLm's) embedding initialisation.
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.01)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.ln(x) @ self.wte.weight.T


def main() -> None:
    p = argparse.ArgumentParser()
    for name, default in [("vocab", 64), ("d", 128), ("heads", 4), ("layers", 2), ("seq", 128),
                          ("batch", 8), ("steps", 20), ("warmup", 3), ("threads", 0)]:
        p.add_argument(f"--{name}", type=int, default=default)
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Gpt(args.vocab, args.d, args.heads, args.layers, args.seq)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    ids = torch.randint(0, args.vocab, (args.batch, args.seq))
    targets = torch.randint(0, args.vocab, (args.batch, args.seq))
    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        loss = F.cross_entropy(model(ids).reshape(-1, args.vocab), targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    # The backend's own large-matMul rate, for the same fraction as tfjs's.
    a = torch.randn(1024, 1024)
    a @ a
    reps = 10
    start = time.perf_counter()
    for _ in range(reps):
        a @ a
    matmul_gflops = 2 * 1024**3 * reps / (time.perf_counter() - start) / 1e9
    step = statistics.median(times)
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "tokens_per_s": args.batch * args.seq / step,
        "step_ms": step * 1000,
        "steps": args.steps,
        "matmul_gflops": matmul_gflops,
        "final_loss": loss.item(),
    }))


if __name__ == "__main__":
    main()
