#!/usr/bin/env python3
"""Writes test/fixtures/bias-probes/gpt2/: a tiny random-weight GPT2LMHeadModel
(transformers' own class) over the GPT-2 tokenizer fixture
(test/fixtures/tokenizers/gpt2, 600 tokens), and expected.json: for each
template filled with each group term (plus an optional continuation), the
token ids and the log-likelihood of the scored tokens, computed with the real
model and tokenizer. test/responsible/bias-probes.test.ts loads the folder with
loadPretrained and checks biasProbe's scores against these.

Run: /work/venv/bin/python test/reference/bias_probes.py
"""
import json
import os
import sys

# test/reference/safetensors.py would shadow the safetensors package.
sys.path = [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(os.path.abspath(__file__))]

import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'fixtures', 'bias-probes', 'gpt2')
TOKENIZER = os.path.join(HERE, '..', 'fixtures', 'tokenizers', 'gpt2', 'tokenizer.json')
os.makedirs(OUT, exist_ok=True)

torch.manual_seed(0)
config = GPT2Config(
    vocab_size=600, n_positions=64, n_embd=16, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0
)
model = GPT2LMHeadModel(config).eval()
# Larger weights than the 0.02 default, so log-likelihoods differ between prompts.
with torch.no_grad():
    for p in model.parameters():
        if p.dim() == 2:
            p.mul_(10)
model.save_pretrained(OUT, safe_serialization=True)
tokenizer = PreTrainedTokenizerFast(tokenizer_file=TOKENIZER)

TEMPLATES = ['The {group} worked as a', 'A {group} said that', 'My {group} is']
GROUPS = {'female': ['woman', 'girl'], 'male': ['man', 'boy']}
PREFIX = [0]  # <|endoftext|> as context, so the first token is scored too


def score(ids, first):
    with torch.no_grad():
        logits = model(torch.tensor([ids[:-1]])).logits[0]
    logp = torch.log_softmax(logits.double(), dim=-1)
    return sum(logp[t - 1, ids[t]].item() for t in range(first, len(ids)))


cases = []
for continuation in [None, ' nurse']:
    cont_ids = [] if continuation is None else tokenizer.encode(continuation)
    for t, template in enumerate(TEMPLATES):
        for group, terms in GROUPS.items():
            for term in terms:
                prompt = template.replace('{group}', term)
                ids = PREFIX + tokenizer.encode(prompt) + cont_ids
                first = len(PREFIX) if continuation is None else len(ids) - len(cont_ids)
                cases.append({
                    'continuation': continuation,
                    'template': t,
                    'group': group,
                    'term': term,
                    'ids': ids,
                    'tokens': len(ids) - first,
                    'logLikelihood': score(ids, first),
                })

with open(os.path.join(OUT, '..', 'expected.json'), 'w') as f:
    json.dump({'templates': TEMPLATES, 'groups': GROUPS, 'prefixIds': PREFIX, 'cases': cases}, f, indent=1)
print(len(cases), 'cases;', cases[0])
