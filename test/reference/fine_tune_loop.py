#!/usr/bin/env python3
"""Writes test/fixtures/fine-tuning/lora-trajectory.json: three optimizer steps of
LoRA fine-tuning of the tiny GPT-2 of test/fixtures/lora/gpt2 with the real
peft (`LoraConfig`, `get_peft_model`) and `torch.optim.AdamW`, two
micro-batches of two examples per step (gradient accumulation), the loss
being the masked next-token cross-entropy summed over the step's counted
tokens (labels != -100) and divided by their number (as the Trainer does
with `num_items_in_batch`). A and B start at seeded non-zero values so that
both get gradients. test/fine-tuning/fine-tune-parity.test.ts runs fineTune
on the same examples in the same order and compares losses and tensors.

Run: /work/venv/bin/python test/reference/fine_tune_loop.py   (torch 2, transformers 5, peft 0.21)
"""
import json
import os
import sys

# test/reference/safetensors.py would shadow the safetensors package.
sys.path = [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(os.path.abspath(__file__))]

import peft  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402
from transformers import GPT2LMHeadModel  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = os.path.join(HERE, '..', 'fixtures', 'lora', 'gpt2')
OUT = os.path.join(HERE, '..', 'fixtures', 'fine-tuning', 'lora-trajectory.json')

STEPS, BATCH, ACCUMULATE, LENGTH, VOCAB = 3, 2, 2, 10, 32
LR, WEIGHT_DECAY = 1e-2, 1e-2

torch.manual_seed(0)
model = GPT2LMHeadModel.from_pretrained(BASE)
model.eval()  # no dropout: fineTune runs the forward without it
config = LoraConfig(r=4, lora_alpha=8, target_modules=['c_attn', 'c_proj'], fan_in_fan_out=True)
peft_model = get_peft_model(model, config)

g = torch.Generator().manual_seed(3)
trainable = {}
with torch.no_grad():
    for key, p in peft_model.named_parameters():
        if p.requires_grad:
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            trainable[key] = p
initial = {k: {'shape': list(p.shape), 'values': p.detach().reshape(-1).tolist()} for k, p in trainable.items()}

examples = []
for k in range(STEPS * BATCH * ACCUMULATE):
    ids = torch.randint(0, VOCAB, (LENGTH,), generator=g).tolist()
    prompt = k % 3  # 0, 1 or 2 prompt tokens masked; one example has a padded tail
    labels = [-100 if t < prompt * 2 else i for t, i in enumerate(ids)]
    if k == 5:
        labels[-3:] = [-100, -100, -100]
    examples.append({'ids': ids, 'labels': labels})

optimizer = torch.optim.AdamW(list(trainable.values()), lr=LR, betas=(0.9, 0.999), eps=1e-8,
                              weight_decay=WEIGHT_DECAY)
losses = []
for step in range(STEPS):
    chunk = examples[step * BATCH * ACCUMULATE:(step + 1) * BATCH * ACCUMULATE]
    counted = sum(1 for e in chunk for l in e['labels'][1:] if l != -100)
    optimizer.zero_grad()
    total = 0.0
    for j in range(ACCUMULATE):
        micro = chunk[j * BATCH:(j + 1) * BATCH]
        ids = torch.tensor([e['ids'] for e in micro])
        labels = torch.tensor([e['labels'] for e in micro])
        logits = peft_model(input_ids=ids).logits
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), labels[:, 1:].reshape(-1),
                               ignore_index=-100, reduction='sum') / counted
        loss.backward()
        total += loss.item()
    optimizer.step()
    losses.append(total)

final = {k: p.detach().reshape(-1).tolist() for k, p in trainable.items()}
with open(OUT, 'w') as f:
    json.dump({
        'peft_version': peft.__version__,
        'transformers_version': transformers.__version__,
        'torch_version': torch.__version__,
        'config': {'r': 4, 'lora_alpha': 8, 'target_modules': ['c_attn', 'c_proj']},
        'steps': STEPS, 'batch_size': BATCH, 'accumulate': ACCUMULATE,
        'learning_rate': LR, 'weight_decay': WEIGHT_DECAY,
        'examples': examples,
        'initial': initial,
        'losses': losses,
        'final': final,
    }, f)
print('losses', losses, 'tensors', len(final))
