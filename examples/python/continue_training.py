#!/usr/bin/env python3
"""Continue training a model folder written by tfjs-blocks' savePretrained
with PyTorch and Hugging Face transformers, on one machine or many, and
write it back in the same format for loadPretrained.

This is the hand-off path for a user who outgrows one machine: tfjs-blocks
does not ship a distributed trainer; PyTorch (torchrun / accelerate) does.

  # one process (what the docs show working):
  python examples/python/continue_training.py --model DIR --text corpus.txt --out OUT
  # 8 GPUs on one node, or several nodes (see `accelerate config`):
  accelerate launch --num_processes 8 examples/python/continue_training.py --model DIR ...
  torchrun --nproc_per_node 8 examples/python/continue_training.py --model DIR ...

The folder needs config.json, model.safetensors (or shards with the index)
and, for --text, the tokenizer files. Without a tokenizer, pass --ids with a
JSON list of token-id lists instead of --text.
"""
import argparse
import json
import math
import os

import torch
from accelerate import Accelerator
from transformers import AutoModelForCausalLM, AutoTokenizer


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--model', required=True, help='folder written by savePretrained')
    p.add_argument('--out', required=True, help='folder to write the trained model to')
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument('--text', help='a UTF-8 text file to train on (needs the tokenizer files)')
    data.add_argument('--ids', help='a JSON file: a list of token-id lists')
    p.add_argument('--seq-len', type=int, default=64)
    p.add_argument('--batch-size', type=int, default=8, help='per process')
    p.add_argument('--steps', type=int, default=100)
    p.add_argument('--lr', type=float, default=3e-4)
    p.add_argument('--weight-decay', type=float, default=0.01)
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args()


def token_stream(args, tokenizer):
    if args.text:
        with open(args.text, encoding='utf-8') as f:
            return tokenizer(f.read(), add_special_tokens=False)['input_ids']
    with open(args.ids, encoding='utf-8') as f:
        return [i for row in json.load(f) for i in row]


def main():
    args = parse_args()
    accelerator = Accelerator()
    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(args.model) if args.text else None
    ids = torch.tensor(token_stream(args, tokenizer), dtype=torch.long)
    windows = ids.numel() // (args.seq_len + 1)
    if windows < 1:
        raise SystemExit(f'need at least {args.seq_len + 1} tokens of data, got {ids.numel()}')
    data = ids[: windows * (args.seq_len + 1)].view(windows, args.seq_len + 1)
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch_size, shuffle=True, drop_last=False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    model.train()
    step, first, last = 0, None, None
    while step < args.steps:
        for batch in loader:
            out = model(input_ids=batch[:, :-1], labels=batch[:, :-1].clone())
            accelerator.backward(out.loss)
            optimizer.step()
            optimizer.zero_grad()
            loss = accelerator.gather(out.loss.detach()).mean().item()
            first = loss if first is None else first
            last = loss
            step += 1
            if step % max(1, args.steps // 10) == 0:
                accelerator.print(f'step {step}: loss {loss:.4f} (perplexity {math.exp(loss):.2f})')
            if step >= args.steps:
                break
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        os.makedirs(args.out, exist_ok=True)
        accelerator.unwrap_model(model).save_pretrained(args.out, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(args.out)
        print(f'loss {first:.4f} -> {last:.4f} over {step} steps; wrote {args.out}')


if __name__ == '__main__':
    main()
