#!/usr/bin/env python3
"""Writes test/fixtures/pretrained/generate-{gpt2,llama}/: tiny random-weight
GPT2LMHeadModel and LlamaForCausalLM (the real transformers classes, seeded,
saved with save_pretrained: config.json + model.safetensors) and, in
expected.json, the ids transformers' `generate` (do_sample=False) gives for a
list of cases: greedy and beam search, each generation option of
generation_config.json alone and in combinations, prompt by prompt.

Each case's `config` is a generation_config.json object (the TypeScript test
reads it with generateOptionsFromConfigJson). The EOS ids are chosen from the
model's own greedy outputs so that EOS is really generated within the budget;
the script asserts that some greedy and some beam cases end by EOS. For each
case it also runs the prompts as one left-padded batch and records whether
the batch gives the per-prompt ids (transformers penalises the pad ids in a
left-padded batch with repetition_penalty / no_repeat_ngram_size; ours never
does, so the TypeScript test compares our batch with the per-prompt ids).

Run: /work/venv/bin/python test/reference/pretrained_generate.py
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
from transformers import (  # noqa: E402
    GenerationConfig,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
)

OUT = os.path.join(HERE, '..', 'fixtures', 'pretrained')
VOCAB = 64
MAX_NEW = 10
PAD = 0
PROMPTS = [[17], [5, 23, 42, 8], [33, 2, 61, 19, 7, 50, 12]]


def build(family):
    torch.manual_seed(0)
    if family == 'gpt2':
        config = GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                            bos_token_id=1, eos_token_id=1, pad_token_id=PAD)
        model = GPT2LMHeadModel(config)
        sizes = dict(vocab=VOCAB, maxLength=64, dModel=32, layers=2, heads=4)
    else:
        config = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                             rms_norm_eps=1e-6, tie_word_embeddings=False,
                             bos_token_id=1, eos_token_id=1, pad_token_id=PAD)
        model = LlamaForCausalLM(config)
        sizes = dict(vocab=VOCAB, maxLength=64, dModel=32, layers=2, heads=4, kvHeads=2, hidden=64)
    # Wider weights than transformers' init (std 0.02): peaked distributions, so
    # that greedy and beam choices are not near-ties that float noise could flip.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.25)
    model.eval()
    # No defaults from the model config: each case passes its own options.
    model.generation_config = GenerationConfig()
    return model, sizes


def run(model, prompts, config):
    """HF generate on `prompts` as one left-padded batch; the generated ids per returned row."""
    longest = max(len(p) for p in prompts)
    ids = torch.tensor([[PAD] * (longest - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (longest - len(p)) + [1] * len(p) for p in prompts])
    kwargs = dict(config)
    kwargs.setdefault('pad_token_id', PAD)
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=MAX_NEW, **kwargs)
    eos = config.get('eos_token_id')
    eos = set([eos] if isinstance(eos, int) else eos or [])
    rows = []
    for row in out[:, longest:].tolist():
        cut = next((i for i, t in enumerate(row) if t in eos), None)
        rows.append(row if cut is None else row[: cut + 1])
    return rows


def cases_for(model):
    plain = [r for p in PROMPTS for r in run(model, [p], {'do_sample': False})]
    # EOS: the tokens the model emits most often after its first two steps.
    counts = collections.Counter(t for r in plain for t in r[2:])
    (eos, _), (eos2, _) = counts.most_common(2)
    bigram = next((r[i], r[i + 1]) for r in plain for i in range(len(r) - 1) if eos not in r[i:i + 2])
    single = next(t for t in counts if t not in (eos, eos2, bigram[1]))
    base = {
        'plain': {},
        'eos': {'eos_token_id': eos},
        'eos list': {'eos_token_id': [eos, eos2]},
        'min_new_tokens': {'eos_token_id': eos, 'min_new_tokens': 4},
        'repetition_penalty': {'repetition_penalty': 1.5},
        'repetition_penalty < 1': {'repetition_penalty': 0.7, 'eos_token_id': eos},
        'no_repeat_ngram_size 2': {'no_repeat_ngram_size': 2},
        'no_repeat_ngram_size 1': {'no_repeat_ngram_size': 1, 'eos_token_id': eos},
        'bad_words_ids': {'bad_words_ids': [[single], list(bigram), [eos]], 'eos_token_id': eos},
        'combined': {'eos_token_id': [eos, eos2], 'repetition_penalty': 1.3, 'no_repeat_ngram_size': 3,
                     'min_new_tokens': 2, 'bad_words_ids': [list(bigram)]},
    }
    cases = []
    for name, options in base.items():
        cases.append((f'greedy {name}', {'do_sample': False, **options}))
        cases.append((f'beam 3 {name}', {'do_sample': False, 'num_beams': 3, **options}))
    beam = {
        'length_penalty 0': {'length_penalty': 0.0},
        'length_penalty 2': {'length_penalty': 2.0},
        'length_penalty -1': {'length_penalty': -1.0},
        'early_stopping true': {'early_stopping': True},
        'early_stopping never': {'early_stopping': 'never'},
        'early_stopping never, length_penalty 0.5': {'early_stopping': 'never', 'length_penalty': 0.5},
        'early_stopping never, length_penalty -0.5': {'early_stopping': 'never', 'length_penalty': -0.5},
        'num_return_sequences 3': {'num_return_sequences': 3, 'length_penalty': 0.5},
        'num_return_sequences 4, early_stopping true': {'num_return_sequences': 4, 'early_stopping': True},
        'eos list, num_return_sequences 2': {'eos_token_id': [eos, eos2], 'num_return_sequences': 2},
        'combined': {'eos_token_id': [eos, eos2], 'repetition_penalty': 1.2, 'no_repeat_ngram_size': 2,
                     'min_new_tokens': 3, 'length_penalty': 1.5, 'early_stopping': 'never',
                     'num_return_sequences': 2},
    }
    for name, options in beam.items():
        options = {'eos_token_id': eos, **options}
        cases.append((f'beam 4 {name}', {'do_sample': False, 'num_beams': 4, **options}))
    return cases


def main():
    for family in ['gpt2', 'llama']:
        model, sizes = build(family)
        folder = os.path.join(OUT, f'generate-{family}')
        model.save_pretrained(folder)
        for extra in ['generation_config.json']:
            path = os.path.join(folder, extra)
            if os.path.exists(path):
                os.remove(path)
        with torch.no_grad():
            logits = model(torch.tensor([PROMPTS[2]])).logits[0].tolist()
        cases = []
        ended_by_eos = {'greedy': 0, 'beam': 0}
        for name, config in cases_for(model):
            per_prompt = [run(model, [p], config) for p in PROMPTS]
            batch = run(model, PROMPTS, config)
            flat = [r for rows in per_prompt for r in rows]
            eos = config.get('eos_token_id')
            eos = set([eos] if isinstance(eos, int) else eos or [])
            ends = sum(1 for r in flat if r and r[-1] in eos and len(r) < MAX_NEW)
            ended_by_eos['beam' if 'num_beams' in config else 'greedy'] += ends
            cases.append({'name': name, 'config': config, 'expected': per_prompt,
                          'batchEqualsPerPrompt': batch == flat, 'endedByEos': ends})
        assert ended_by_eos['greedy'] > 0 and ended_by_eos['beam'] > 0, ended_by_eos
        expected = {'transformers': transformers.__version__, 'torch': torch.__version__,
                    'sizes': sizes, 'prompts': PROMPTS, 'maxNewTokens': MAX_NEW, 'padId': PAD,
                    'logits': {'prompt': PROMPTS[2], 'values': logits}, 'cases': cases}
        with open(os.path.join(folder, 'expected.json'), 'w') as f:
            json.dump(expected, f)
        differ = [c['name'] for c in cases if not c['batchEqualsPerPrompt']]
        print(family, len(cases), 'cases; rows ended by EOS:', ended_by_eos,
              '; batch differs from per-prompt in:', differ)


if __name__ == '__main__':
    main()
