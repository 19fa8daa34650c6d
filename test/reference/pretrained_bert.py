#!/usr/bin/env python3
"""Writes test/fixtures/pretrained/bert/: a tiny random-weight
BertForSequenceClassification saved with transformers' save_pretrained
(config.json + model.safetensors), the same weights as a bare BertModel in
bert/base-model/, and expected.json: the class logits, last hidden states
and pooler output of a padded batch of 2 with token types and an attention
mask (the real transformers classes, eval mode, on cpu).

Run: /work/venv/bin/python test/reference/pretrained_bert.py
  (torch 2, transformers 5, safetensors: ../shared/tools/reference-venv.sh)

With --check-config DIR it instead loads DIR/config.json (written by our
bertFamily.toConfigJson) with BertConfig and the fixture's weights into the
model class it names, and prints the largest logit / hidden-state difference
from expected.json: our config.json reads back as the same model.
"""
import json
import os
import sys

# test/reference/safetensors.py would shadow the safetensors package.
sys.path = [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(os.path.abspath(__file__))]

import torch  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification, BertModel  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'pretrained', 'bert')
IDS = [[2, 17, 45, 9, 88, 3, 0, 0], [2, 61, 5, 3, 33, 70, 12, 3]]
TOKEN_TYPES = [[0, 0, 0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1]]
MASK = [[1, 1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]]


def inputs():
    return dict(
        input_ids=torch.tensor(IDS),
        token_type_ids=torch.tensor(TOKEN_TYPES),
        attention_mask=torch.tensor(MASK),
    )


def rounded(t):
    return [[[float(f'{v:.8g}') for v in row] for row in m] for m in t.tolist()] if t.dim() == 3 else [
        [float(f'{v:.8g}') for v in row] for row in t.tolist()
    ]


def write():
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=16,
        type_vocab_size=2,
        num_labels=3,
    )
    model = BertForSequenceClassification(config).eval()
    # Initialised weights are near zero (std 0.02) with LayerNorm at 1 / 0:
    # scale them up so the test sees every part of the model at work.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'LayerNorm' in name:
                p.copy_(1 + 0.2 * torch.randn_like(p) if name.endswith('weight') else 0.2 * torch.randn_like(p))
            else:
                p.normal_(0, 0.3)
    model.save_pretrained(OUT)
    base = BertModel(config).eval()
    base.load_state_dict({k[len('bert.'):]: v for k, v in model.state_dict().items() if k.startswith('bert.')})
    base.save_pretrained(os.path.join(OUT, 'base-model'))
    with torch.no_grad():
        out = model(**inputs(), output_hidden_states=True)
        encoded = base(**inputs())
    assert torch.allclose(out.hidden_states[-1], encoded.last_hidden_state)
    expected = {
        'generated_by': 'test/reference/pretrained_bert.py (transformers BertForSequenceClassification, eval, cpu)',
        'ids': IDS,
        'token_type_ids': TOKEN_TYPES,
        'attention_mask': MASK,
        'logits': rounded(out.logits),
        'last_hidden_state': rounded(encoded.last_hidden_state),
        'pooler_output': rounded(encoded.pooler_output),
        'logits_without_token_types': rounded(
            model(input_ids=torch.tensor(IDS), attention_mask=torch.tensor(MASK)).logits.detach()
        ),
    }
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=1)
        f.write('\n')


def check_config(directory):
    config = BertConfig.from_json_file(os.path.join(directory, 'config.json'))
    expected = json.load(open(os.path.join(OUT, 'expected.json')))
    classifier = config.architectures == ['BertForSequenceClassification']
    source = OUT if classifier else os.path.join(OUT, 'base-model')
    cls = BertForSequenceClassification if classifier else BertModel
    model = cls.from_pretrained(source, config=config).eval()
    with torch.no_grad():
        out = model(**inputs())
    if classifier:
        got, want = out.logits, torch.tensor(expected['logits'])
    else:
        got, want = out.last_hidden_state, torch.tensor(expected['last_hidden_state'])
    print(config.architectures, 'max |diff| / max |expected| =', float((got - want).abs().max() / want.abs().max()))


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--check-config':
        check_config(sys.argv[2])
    else:
        write()
