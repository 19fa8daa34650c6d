#!/usr/bin/env python3
"""Writes test/fixtures/pretrained/<name>/generate.json for every tiny family
fixture (written by pretrained_decoders.py, pretrained_gemma.py and
pretrained_mistral.py with the real transformers classes): the ids
transformers' `generate` (do_sample=False) gives for greedy and beam search
(num_beams 3), plain and with Hugging Face options (repetition_penalty,
no_repeat_ngram_size, an eos_token_id list, length_penalty,
num_return_sequences), for three prompts of different lengths.

Each case's `config` is a generation_config.json object. `expected` holds
the ids prompt by prompt (each prompt alone); the script also runs the
prompts as one left-padded batch and records whether that gives the same
ids (`batchEqualsPerPrompt`): transformers penalises the pad ids of a
left-padded batch with repetition_penalty / no_repeat_ngram_size, ours never
does, so the TypeScript test compares our batch with the per-prompt ids.
The script asserts that the batch equals the per-prompt ids for every case
without those two options, and that some rows end by EOS. The models are
loaded with from_pretrained from the committed folders, so this script does
not change the weights.

Run after the fixture scripts: /work/venv/bin/python test/reference/pretrained_family_generate.py
"""
import collections
import json
import os
import sys

# test/reference/safetensors.py would shadow the safetensors package.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or '.') != HERE]

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, GenerationConfig  # noqa: E402

ROOT = os.path.join(HERE, '..', 'fixtures', 'pretrained')
FIXTURES = ['gpt2', 'llama', 'llama3-rope', 'llama-linear-rope', 'qwen2', 'phi3', 'gemma', 'mistral',
            'llama-head-dim', 'phi3-window', 'qwen2-window']
MAX_NEW = 8
PAD = 0
# Lengths 1, 4 and 7: left-padded by 6, 3 and 0 in a batch; past the windows of 4.
PROMPTS = [[17], [5, 23, 42, 8], [33, 2, 61, 19, 7, 50, 12]]
PENALISES_PADS = ('repetition_penalty', 'no_repeat_ngram_size')


def run(model, prompts, config):
    """HF generate on `prompts` as one left-padded batch; the generated ids per returned row, cut after EOS."""
    longest = max(len(p) for p in prompts)
    ids = torch.tensor([[PAD] * (longest - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (longest - len(p)) + [1] * len(p) for p in prompts])
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=MAX_NEW,
                             pad_token_id=PAD, **config)
    eos = config.get('eos_token_id')
    eos = set([eos] if isinstance(eos, int) else eos or [])
    rows = []
    for row in out[:, longest:].tolist():
        cut = next((i for i, t in enumerate(row) if t in eos), None)
        rows.append(row if cut is None else row[: cut + 1])
    return rows


def cases_for(model):
    plain = [r for p in PROMPTS for r in run(model, [p], {'do_sample': False})]
    # EOS: the tokens the model emits most often after its first step, so rows do end by EOS.
    counts = collections.Counter(t for r in plain for t in r[1:])
    (eos, _), (eos2, _) = counts.most_common(2)
    return [
        ('greedy', {'do_sample': False}),
        ('beam 3', {'do_sample': False, 'num_beams': 3}),
        ('greedy, repetition_penalty, no_repeat_ngram_size, eos list',
         {'do_sample': False, 'repetition_penalty': 1.3, 'no_repeat_ngram_size': 2,
          'eos_token_id': [eos, eos2]}),
        ('beam 3, eos list, length_penalty, num_return_sequences 2',
         {'do_sample': False, 'num_beams': 3, 'eos_token_id': [eos, eos2], 'length_penalty': 0.7,
          'num_return_sequences': 2}),
        ('beam 3, repetition_penalty, no_repeat_ngram_size, eos',
         {'do_sample': False, 'num_beams': 3, 'repetition_penalty': 1.2, 'no_repeat_ngram_size': 3,
          'eos_token_id': eos, 'early_stopping': True}),
    ]


def main():
    for name in FIXTURES:
        folder = os.path.join(ROOT, name)
        model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation='eager').eval()
        # No defaults from the folder: each case passes its own options.
        model.generation_config = GenerationConfig()
        cases = []
        ended = 0
        for case, config in cases_for(model):
            per_prompt = [run(model, [p], config) for p in PROMPTS]
            flat = [r for rows in per_prompt for r in rows]
            batch = run(model, PROMPTS, config)
            if not any(k in config for k in PENALISES_PADS):
                assert batch == flat, (name, case, batch, flat)
            eos = config.get('eos_token_id')
            eos = set([eos] if isinstance(eos, int) else eos or [])
            ended += sum(1 for r in flat if r and r[-1] in eos and len(r) < MAX_NEW)
            cases.append({'name': case, 'config': config, 'expected': per_prompt,
                          'batchEqualsPerPrompt': batch == flat})
        assert ended > 0, name
        expected = {'transformers': transformers.__version__, 'torch': torch.__version__,
                    'prompts': PROMPTS, 'maxNewTokens': MAX_NEW, 'padId': PAD, 'cases': cases}
        with open(os.path.join(folder, 'generate.json'), 'w') as f:
            json.dump(expected, f)
        differ = [c['name'] for c in cases if not c['batchEqualsPerPrompt']]
        print(name, len(cases), 'cases; rows ended by EOS:', ended, '; HF batch differs in:', differ)


if __name__ == '__main__':
    main()
