#!/usr/bin/env python3
"""Opens the folders test/reference/write_saved_folders.ts wrote with our
savePretrained, with the real transformers Auto classes, and checks them:

- AutoModelForCausalLM / AutoModelForSequenceClassification / AutoModel
  .from_pretrained(folder, output_loading_info=True) loads every tensor (no
  missing, unexpected or mismatched keys) and gives our output for the same
  ids (logits, or BertModel's last_hidden_state) within 1e-5 relative
  (max |a - b| / max |b|);
- AutoTokenizer.from_pretrained(folder) gives our ids for a few strings, with
  and without special tokens, equal to those of the tokenizer fixture it was
  saved from, and apply_chat_template gives our text and ids.

Then it writes test/fixtures/pretrained/saved/expected.json: what it checked
(with the measured relative differences) and, per folder, the files that
transformers accepted: their names, config.json / generation_config.json /
index contents, and per weight file each tensor's dtype, shape and the
sha256 of its bytes (every other file: the sha256 of its bytes).
test/pretrained/saved-folders.test.ts re-writes each folder with
savePretrained and compares it with these, so CI needs no Python.

Run:
  npx tsx test/reference/write_saved_folders.ts /tmp/tfjs-blocks-saved
  /work/venv/bin/python test/reference/check_saved_folders.py /tmp/tfjs-blocks-saved
"""
import hashlib
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# test/reference/safetensors.py would shadow the safetensors package.
sys.path = [p for p in sys.path if os.path.abspath(p or '.') != HERE]

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

AUTO = {
    'AutoModelForCausalLM': AutoModelForCausalLM,
    'AutoModelForSequenceClassification': AutoModelForSequenceClassification,
    'AutoModel': AutoModel,
}
# Which Auto class opens each folder, and which tokenizer fixture it was saved with
# (mirrors SAVED_FOLDERS in test/helpers/saved-folders.ts).
FOLDERS = {
    'gpt2': ('AutoModelForCausalLM', 'gpt2'),
    'llama-sharded': ('AutoModelForCausalLM', 'llama'),
    'llama3-rope': ('AutoModelForCausalLM', None),
    'llama-linear-rope': ('AutoModelForCausalLM', None),
    'qwen2': ('AutoModelForCausalLM', None),
    'phi3': ('AutoModelForCausalLM', None),
    'mistral': ('AutoModelForCausalLM', 'llama'),
    'gemma': ('AutoModelForCausalLM', None),
    'bert': ('AutoModelForSequenceClassification', 'bert'),
    'bert-base': ('AutoModel', 'bert'),
}
TOKENIZERS = os.path.join(HERE, '..', 'fixtures', 'tokenizers')
OUT = os.path.join(HERE, '..', 'fixtures', 'pretrained', 'saved', 'expected.json')
TOLERANCE = 1e-5


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def safetensors_entry(path):
    """Each tensor's dtype, shape and the sha256 of its bytes, and the metadata."""
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    metadata = header.pop('__metadata__', None)
    tensors = {}
    for name in sorted(header):
        info = header[name]
        start, end = info['data_offsets']
        tensors[name] = {
            'dtype': info['dtype'],
            'shape': info['shape'],
            'sha256': sha256(data[start:end]),
        }
    return {'metadata': metadata, 'tensors': tensors}


def describe_files(folder):
    files = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.endswith('.safetensors'):
            files[name] = safetensors_entry(path)
            continue
        with open(path, 'rb') as f:
            raw = f.read()
        entry = {'sha256': sha256(raw)}
        if name in ('config.json', 'generation_config.json', 'model.safetensors.index.json'):
            entry['json'] = json.loads(raw)
        files[name] = entry
    return files


def relative(ours, theirs):
    ours = torch.tensor(ours, dtype=torch.float64)
    theirs = theirs.to(torch.float64)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    return float((ours - theirs).abs().max() / theirs.abs().max())


def as_ids(value):
    """apply_chat_template(tokenize=True) gives a list, or a BatchEncoding in transformers 5."""
    if hasattr(value, 'keys') and 'input_ids' in value:
        value = value['input_ids']
    return list(value)


def check_model(folder, auto, ids, ours):
    model, info = AUTO[auto].from_pretrained(folder, output_loading_info=True)
    for key in ('missing_keys', 'unexpected_keys', 'mismatched_keys', 'error_msgs'):
        assert not info.get(key), f'{folder}: {key} {info.get(key)}'
    model.eval()
    with torch.no_grad():
        out = model(torch.tensor(ids))
    theirs = out.last_hidden_state if auto == 'AutoModel' else out.logits
    rel = relative(ours['output'], theirs)
    assert rel < TOLERANCE, f'{folder}: output {rel} relative'
    return type(model).__name__, rel


def check_tokenizer(folder, fixture, strings, conversation, ours):
    saved = AutoTokenizer.from_pretrained(folder)
    original = AutoTokenizer.from_pretrained(os.path.join(TOKENIZERS, fixture))
    for i, s in enumerate(strings):
        ids = saved(s)['input_ids']
        assert ids == ours['ids'][i] == original(s)['input_ids'], (folder, s, ids, ours['ids'][i])
        plain = saved.encode(s, add_special_tokens=False)
        assert plain == ours['idsWithoutSpecial'][i] == original.encode(s, add_special_tokens=False), (
            folder,
            s,
        )
    checked = {'class': type(saved).__name__, 'strings': len(strings), 'vocabSize': len(saved)}
    if 'chat' in ours:
        text = saved.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        assert text == ours['chat'], (folder, text, ours['chat'])
        assert text == original.apply_chat_template(
            conversation, tokenize=False, add_generation_prompt=True
        )
        chat_ids = as_ids(
            saved.apply_chat_template(conversation, tokenize=True, add_generation_prompt=True)
        )
        assert chat_ids == ours['chatIds'], (folder, chat_ids, ours['chatIds'])
        checked['chatTemplate'] = True
    return checked


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '/tmp/tfjs-blocks-saved'
    with open(os.path.join(root, 'ours.json')) as f:
        ours = json.load(f)
    assert sorted(ours['models']) == sorted(FOLDERS), sorted(ours['models'])
    checked = {}
    folders = {}
    for name, (auto, tokenizer) in FOLDERS.items():
        folder = os.path.join(root, name)
        mine = ours['models'][name]
        loaded_as, rel = check_model(folder, auto, ours['ids'], mine)
        entry = {'auto': auto, 'loadedAs': loaded_as, 'outputRelative': rel}
        if tokenizer is not None:
            entry['tokenizer'] = check_tokenizer(
                folder, tokenizer, ours['strings'], ours['conversation'], mine
            )
        checked[name] = entry
        folders[name] = describe_files(folder)
        print(name, json.dumps(entry))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump(
            {
                'generated_by': 'test/reference/check_saved_folders.py after write_saved_folders.ts',
                'transformers': transformers.__version__,
                'torch': torch.__version__,
                'tolerance': TOLERANCE,
                'ids': ours['ids'],
                'checked': checked,
                'folders': folders,
            },
            f,
            indent=1,
            sort_keys=True,
        )
        f.write('\n')
    print('wrote', os.path.relpath(OUT))


if __name__ == '__main__':
    main()
