#!/usr/bin/env python3
"""Writes test/fixtures/tokenizers/: three tiny tokenizers TRAINED here with the
Python `tokenizers` library, each saved as a Hugging Face folder
(tokenizer.json, tokenizer_config.json, and for two of them a chat template),
plus expected.json: for a few hundred varied strings, the ids that
`transformers.AutoTokenizer.from_pretrained(folder)` gives (with and without
special tokens) and its decodes, padded batches as `tokenizer(texts,
padding=True)` gives them, and `apply_chat_template` outputs.

- gpt2: byte-level BPE (ByteLevel pre-tokenizer with the GPT-2 regex,
  ByteLevel decoder), `<|endoftext|>`; chat template in chat_template.jinja
  (the form transformers 5 writes).
- llama: SentencePiece-style BPE as Llama's tokenizer.json is (Metaspace
  pre-tokenizer with prepend_scheme "first", byte_fallback with the 256
  `<0xNN>` tokens, decoder Replace/ByteFallback/Fuse/Strip, `<s>` prepended
  by a TemplateProcessing post-processor); chat template inside
  tokenizer_config.json's `chat_template`; padding on the left.
- bert: WordPiece (BertNormalizer lowercasing, BertPreTokenizer,
  [CLS] ... [SEP]), padding on the right.

Run: /work/venv/bin/python test/reference/tokenizers.py
(tokenizers 0.23, transformers 5.18)
"""
import json
import os
import random
import shutil
import sys

# test/reference/safetensors.py would shadow the safetensors package.
sys.path = [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(os.path.abspath(__file__))]

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import AutoTokenizer, PreTrainedTokenizerFast  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'tokenizers')

# A generated training corpus: English, a little French/German/Greek/Russian/CJK,
# code and numbers. Rare scripts and emoji stay out of the vocabularies on
# purpose, so byte-level, byte-fallback and [UNK] paths are exercised.
WORDS = (
    'the model reads tokens and writes text while training on small data sets '
    'attention heads layer norm residual stream weights gradients loss step '
    'hello world this is a test of the tokenizer with numbers like 42 and 3.14 '
    'le modèle lit des phrases très courtes der Bär läuft über die Straße '
    'καλημέρα κόσμε привет мир 你好 世界 日本語 テキスト '
    'def forward(self, x): return x + 1 const y = [1, 2, 3]; if (a && b) { c(); } '
    '#include <stdio.h> int main() { printf("%d\\n", 10); } 2024-01-31 12:30 $99.95'
).split()


def corpus():
    rng = random.Random(0)
    lines = []
    for _ in range(3000):
        n = rng.randint(3, 14)
        line = ' '.join(rng.choice(WORDS) for _ in range(n))
        if rng.random() < 0.2:
            line = line.capitalize() + '.'
        if rng.random() < 0.1:
            line = '    ' + line
        if rng.random() < 0.1:
            line += '\n\t' + rng.choice(WORDS)
        lines.append(line)
    return lines


CHATML = (
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('Unknown role: ' + message['role']) }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

LLAMA2_CHAT = (
    "{% if messages[0]['role'] == 'system' %}"
    "{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
    "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}"
)


def train_gpt2():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token='<|endoftext|>',
        eos_token='<|endoftext|>',
        unk_token='<|endoftext|>',
        additional_special_tokens=['<|im_start|>', '<|im_end|>'],
    )
    fast.chat_template = CHATML
    return fast


def train_llama():
    specials = ['<unk>', '<s>', '</s>']
    tok = Tokenizer(models.BPE(unk_token='<unk>', byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement='▁', prepend_scheme='first', split=False)
    trainer = trainers.BpeTrainer(
        vocab_size=700, special_tokens=specials, limit_alphabet=120, show_progress=False
    )
    tok.train_from_iterator(corpus(), trainer)
    # Llama's vocabulary: the specials, then the 256 byte tokens <0x00>..<0xFF>
    # (plain vocabulary entries, not added tokens), then the learned pieces.
    spec = json.loads(tok.to_str())
    learned = sorted(spec['model']['vocab'].items(), key=lambda kv: kv[1])
    vocab = {s: i for i, s in enumerate(specials)}
    for b in range(256):
        vocab[f'<0x{b:02X}>'] = len(vocab)
    for piece, _ in learned:
        if piece not in vocab:
            vocab[piece] = len(vocab)
    spec['model']['vocab'] = vocab
    for added in spec['added_tokens']:
        added['id'] = vocab[added['content']]
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.decoder = decoders.Sequence(
        [decoders.Replace('▁', ' '), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(' ', 1, 0)]
    )
    tok.post_processor = processors.TemplateProcessing(
        single='<s> $A', pair='<s> $A <s> $B', special_tokens=[('<s>', 1)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token='<s>',
        eos_token='</s>',
        unk_token='<unk>',
        pad_token='</s>',
        padding_side='left',
    )
    fast.chat_template = LLAMA2_CHAT
    return fast


def train_bert():
    specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    tok = Tokenizer(models.WordPiece(unk_token='[UNK]'))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix='##')
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials, show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    tok.post_processor = processors.TemplateProcessing(
        single='[CLS] $A [SEP]',
        pair='[CLS] $A [SEP] $B:1 [SEP]:1',
        special_tokens=[('[CLS]', tok.token_to_id('[CLS]')), ('[SEP]', tok.token_to_id('[SEP]'))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token='[UNK]',
        sep_token='[SEP]',
        pad_token='[PAD]',
        cls_token='[CLS]',
        mask_token='[MASK]',
        padding_side='right',
        clean_up_tokenization_spaces=True,
    )


def test_strings():
    """A few hundred strings: hand-written edge cases, then seeded mixtures."""
    base = [
        '', ' ', '  ', '\t', '\n', '\r\n', ' \n ', '\n\n\n', 'a', 'hello', ' hello', 'hello ',
        'Hello, world!', 'The model reads tokens.', '   leading spaces', 'trailing spaces   ',
        'multiple   spaces   between', 'tabs\tand\ttabs', 'line one\nline two\n', 'mixed \t\n whitespace',
        'NEL\u0085next line', 'a\u0085b', '\u0085', ' \u0085 ', 'BOM\ufeffinside', '\ufeffleading BOM',
        'trailing BOM\ufeff', '\ufeff', ' \ufeff ', '!\u0085', 'hi!\u0085\u0085there', '...\u0085...',
        'x \u0085\u0085 y', '\u0085\u0085', '\ufeff!', 'a\ufeff\ufeff!', '  \ufeffx', '?\ufeff ', 'LS\u2028PS\u2029end', '\u2028', 'nbsp\u00a0here',
        'thin\u2009space', 'ideographic\u3000space', 'zero\u200bwidth', 'soft\u00adhyphen',
        'café', 'cafe\u0301', 'e\u0301\u0302\u0303', 'Ångström', 'ﬁne ligature', 'Ⅻ roman',
        'naïve résumé', 'Straße', 'İstanbul', 'ǅemal', 'ΣΊΣΥΦΟΣ', 'καλημέρα κόσμε', 'привет мир',
        '你好，世界！', '日本語のテキスト', '한국어 텍스트', 'שלום עולם', 'مرحبا بالعالم', 'नमस्ते दुनिया',
        'สวัสดีครับ', 'ქართული', 'Ελληνικά και English', 'mixed 中文 and English',
        '😀', '😀😀😀', 'emoji 🎉 party', '👍🏽', '👨‍👩‍👧‍👦 family', '🏳️‍🌈', '❤️', '🇫🇷🇩🇪',
        '1️⃣ keycap', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '𝟘𝟙𝟚', '\U0001F600 astral',
        'def forward(self, x):\n    return x + 1\n', 'const y = [1, 2, 3];', 'if (a && b) { c(); }',
        '#include <stdio.h>', 'printf("%d\\n", 10);', 'x=1;y=2', 'a_b_c', 'snake_case_name',
        'camelCaseName', 'https://huggingface.co/models?x=1&y=2', 'user@example.com', '<html><body>',
        '    indented code', '\tif x:\n\t\tpass', '// comment', '/* block */', "it's", "don't", "I'm",
        "we'll", "they've", "you're", "he'd", "IT'S LOUD", "'quoted'", '"double"',
        '42', '3.14159', '1,000,000', '2024-01-31', '12:30', '$99.95', '-17', '1e-4', '0x1F',
        '١٢٣ arabic digits', '１２３ fullwidth', '½ ¼ ¾', '²³', '100%', '#1', '@user', '...',
        '!!!', '???', '—', '–', '«guillemets»', '„Anführung“', '¿Qué?', '¡Hola!',
        '\x00null', 'bell\x07', 'esc\x1b[0m', '\x7f', '\ufffd', 'replacement \ufffd char',
        'a' * 50, 'ab' * 30, ' ' * 20, '\n' * 10, '.' * 25, '日' * 20, '😀' * 10,
    ]
    rng = random.Random(1)
    pieces = [s for s in base if s] + WORDS + [' ', '  ', '\n', '\t', '\u0085', '\ufeff', '\u2028', '\u00a0']
    mixed = []
    for _ in range(170):
        n = rng.randint(1, 7)
        mixed.append(''.join(rng.choice(pieces) + rng.choice(['', ' ', '', '\n']) for _ in range(n)))
    return base, mixed


def special_strings(fast):
    specials = [t for t in fast.all_special_tokens]
    out = []
    for s in specials:
        out += [s, f'hello {s} world', f'{s}{s}', f' {s} ', f'text{s}text', f'{s}\n']
    return out


CONVERSATIONS = [
    [{'role': 'user', 'content': 'Hello!'}],
    [
        {'role': 'user', 'content': 'What is 2 + 2?'},
        {'role': 'assistant', 'content': 'It is 4.'},
        {'role': 'user', 'content': 'And 3 + 3?'},
    ],
    [
        {'role': 'system', 'content': 'You are terse.'},
        {'role': 'user', 'content': '  Trim me, café 😀  '},
    ],
]


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    expected = {}
    for name, make in [('gpt2', train_gpt2), ('llama', train_llama), ('bert', train_bert)]:
        folder = os.path.join(OUT, name)
        make().save_pretrained(folder)
        tok_config_path = os.path.join(folder, 'tokenizer_config.json')
        with open(tok_config_path) as f:
            tok_config = json.load(f)
        jinja_path = os.path.join(folder, 'chat_template.jinja')
        if name == 'llama' and os.path.exists(jinja_path):
            # The older form: the template inside tokenizer_config.json.
            with open(jinja_path) as f:
                tok_config['chat_template'] = f.read()
            os.remove(jinja_path)
            with open(tok_config_path, 'w') as f:
                json.dump(tok_config, f, indent=2, ensure_ascii=False)
        # Re-read the folder as users do: the expectations are what it gives.
        hf = AutoTokenizer.from_pretrained(folder)
        base, mixed = test_strings()
        strings = base + mixed + special_strings(hf)
        cases = []
        backend = hf.backend_tokenizer
        for s in strings:
            ids = hf(s, add_special_tokens=True)['input_ids']
            plain = hf(s, add_special_tokens=False)['input_ids']
            cases.append(
                {
                    'text': s,
                    'ids': ids,
                    'idsNoSpecial': plain,
                    'decode': hf.decode(ids),
                    'decodeSkipSpecial': hf.decode(ids, skip_special_tokens=True),
                }
            )
            if name == 'gpt2':
                # The GPT-2 regex's pieces (byte-mapped), to test the pre-tokenizer on its own.
                cases[-1]['preTokens'] = [p for p, _ in backend.pre_tokenizer.pre_tokenize_str(s)]
        entry = {
            'vocabSize': len(hf),
            'specialIds': {
                k: getattr(hf, f'{k}_token_id')
                for k in ['bos', 'eos', 'pad', 'unk']
            },
            'paddingSide': hf.padding_side,
            'cases': cases,
        }
        if hf.pad_token is not None:
            batch = ['hello', 'hello world, this is longer', '', 'café 😀']
            padded = hf(batch, padding=True)
            entry['batch'] = {
                'texts': batch,
                'inputIds': padded['input_ids'],
                'attentionMask': padded['attention_mask'],
            }
        if hf.chat_template is not None:
            chats = []
            for messages in CONVERSATIONS:
                for gen in [False, True]:
                    try:
                        text = hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
                        ids = hf.apply_chat_template(messages, tokenize=True, add_generation_prompt=gen)
                        if isinstance(ids, dict) or hasattr(ids, 'keys'):
                            ids = ids['input_ids']
                        chats.append({'messages': messages, 'addGenerationPrompt': gen, 'text': text, 'ids': list(ids)})
                    except Exception as e:  # noqa: BLE001 - the template's raise_exception
                        chats.append({'messages': messages, 'addGenerationPrompt': gen, 'error': str(e)})
            entry['chats'] = chats
        expected[name] = entry
        print(name, 'vocab', len(hf), 'strings', len(cases))
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, ensure_ascii=False, separators=(',', ':'))


if __name__ == '__main__':
    main()
