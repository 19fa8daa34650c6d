#!/usr/bin/env python3
"""Writes test/fixtures/fine-tuning/chat-masks.json: for a few conversations,
the ids and the assistant-token mask that `transformers`'
`apply_chat_template(..., return_assistant_tokens_mask=True)` gives with the
gpt2 and llama fixture tokenizers (test/fixtures/tokenizers/). That option
needs `{% generation %}` markers, which the fixtures' templates lack, so this
script adds them around each assistant reply and its end-of-turn (the
template otherwise unchanged: the rendered text is checked to be the same).
test/fine-tuning/data.test.ts checks that chatExamples, run with the
fixtures' own templates, learns exactly the marked tokens.

Run: /work/venv/bin/python test/reference/chat_examples.py   (transformers 5)
"""
import json
import os
import sys

sys.path = [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(os.path.abspath(__file__))]

import transformers  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZERS = os.path.join(HERE, '..', 'fixtures', 'tokenizers')
OUT = os.path.join(HERE, '..', 'fixtures', 'fine-tuning', 'chat-masks.json')

# The fixtures' templates, with generation markers around what the model should learn.
MARKED = {
    'gpt2': (
        "{% for message in messages %}{% if message['role'] not in ['system', 'user', 'assistant'] %}"
        "{{ raise_exception('Unknown role: ' + message['role']) }}{% endif %}"
        "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}{% generation %}"
        "{{ message['content'] + '<|im_end|>' + '\\n' }}{% endgeneration %}"
        "{% else %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
        "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    ),
    'llama': (
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
        "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
        "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if loop.index0 == 0 and system_message != false %}"
        "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
        "{% else %}{% set content = message['content'] %}{% endif %}"
        "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{% generation %}{{ ' ' + content.strip() + ' ' + eos_token }}"
        "{% endgeneration %}{% endif %}{% endfor %}"
    ),
}

CONVERSATIONS = [
    [
        {'role': 'system', 'content': 'Be brief.'},
        {'role': 'user', 'content': 'Capital of France?'},
        {'role': 'assistant', 'content': 'Paris.'},
        {'role': 'user', 'content': 'And of Italy?'},
        {'role': 'assistant', 'content': 'Rome, since 1871.'},
    ],
    [
        {'role': 'user', 'content': 'Say hello in German.'},
        {'role': 'assistant', 'content': 'Hallo! Guten Tag.'},
    ],
    [
        {'role': 'user', 'content': 'Only a question, no answer yet?'},
    ],
]

out = {'transformers_version': transformers.__version__, 'conversations': CONVERSATIONS, 'tokenizers': {}}
for name, marked in MARKED.items():
    tokenizer = AutoTokenizer.from_pretrained(os.path.join(TOKENIZERS, name))
    cases = []
    for conversation in CONVERSATIONS:
        plain = tokenizer.apply_chat_template(conversation, tokenize=False)
        assert tokenizer.apply_chat_template(conversation, tokenize=False, chat_template=marked) == plain
        result = tokenizer.apply_chat_template(conversation, tokenize=True, return_dict=True,
                                               return_assistant_tokens_mask=True, chat_template=marked)
        cases.append({'ids': list(result['input_ids']), 'assistant_masks': list(result['assistant_masks'])})
    out['tokenizers'][name] = cases
with open(OUT, 'w') as f:
    json.dump(out, f)
print({n: [sum(c['assistant_masks']) for c in cs] for n, cs in out['tokenizers'].items()})
