"""Tiny real models for tests, built with `save_pretrained`: they load through the product's
loading code in milliseconds and decode deterministically."""

from __future__ import annotations

from pathlib import Path

import torch

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
WORDS = [
    "the", "a", "of", "to", "and", "in", "is", "it", "for", "on", "with", "as", "at", "by", "row",
    "rows", "star", "stars", "triangle", "pyramid", "diamond", "print", "range", "loop", "input",
    "size", "space", "spaces", "database", "connection", "pool",
]


def build_tiny_embedding_model(folder: Path) -> Path:
    """A 1-layer BERT (hidden 32) with a WordPiece vocabulary that can spell any lowercase word."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars),
             *"*#.,:()'=+-", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True, model_max_length=64).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    return folder


def build_tiny_generation_model(folder: Path) -> Path:
    """A 1-layer Llama (hidden 32) with a byte-level BPE tokenizer and a ChatML template. It has no
    EOS token, so greedy decoding always runs to max_new_tokens: lengths are predictable."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = [" ".join(WORDS), "for i in range(1, n + 1): print('*' * i)", "You are a kind tutor."] * 10
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                        pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=None, eos_token_id=None, pad_token_id=tokenizer.pad_token_id,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = None
    model.save_pretrained(folder)
    return folder


# What the tiny tutor says of any program: true of `n = int(input())` / `for i in range(1, n + 1):` /
# `print('*' * i)`; of `range(1, n)` its second sentence is false (the loop stops at n - 1).
TUTOR_REPLY = ("Line 1 reads the size n with input().\nLine 2 repeats the loop for i from 1 to n.\n"
               "Line 3 prints a row of i stars.")


def build_tiny_tutor_model(folder: Path, steps: int = 300) -> Path:
    """The tiny Llama of `build_tiny_generation_model`, trained for a few seconds to answer any
    prompt with `TUTOR_REPLY` and then end: a real model through the real loading code whose
    sentences the verifier can keep or drop deterministically."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from analysis.feedback import Facts
    from analysis.prompt import build_messages

    build_tiny_generation_model(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    reply = tokenizer(TUTOR_REPLY + "<|im_end|>")["input_ids"]
    prompts = []
    for n, code in enumerate(["n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n",
                              "n = int(input())\nfor i in range(1, n):\n    print('*' * i)\n",
                              "print('*')\n", "x = 1\nwhile x < 5:\n    print('#' * x)\n    x += 1\n"]):
        facts = Facts("Right Triangle", "stars", ["*"], code, ["PASSED", "WRONG_OUTPUT"][n % 2], None, [], 1.0,
                      1, 1, 1, 0, "O(n)", "simple", True)
        ids = tokenizer.apply_chat_template(build_messages(facts), add_generation_prompt=True, tokenize=True,
                                            return_dict=True)["input_ids"]
        prompts.append(list(ids))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        batch_inputs, batch_labels = [], []
        for k, prompt in enumerate(prompts):
            keep = 40 + (step * 37 + k * 101) % 440  # prompts arrive cut to any length
            context = prompt[-keep:]
            batch_inputs.append(context + reply)
            batch_labels.append([-100] * len(context) + reply)
        width = max(len(x) for x in batch_inputs)
        pad = tokenizer.pad_token_id
        inputs = torch.tensor([[pad] * (width - len(x)) + x for x in batch_inputs])
        labels = torch.tensor([[-100] * (width - len(x)) + x for x in batch_labels])
        mask = (torch.arange(width)[None, :] >= torch.tensor([width - len(x) for x in batch_inputs])[:, None]).long()
        loss = model(input_ids=inputs, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = pad
    model.save_pretrained(folder)
    return folder
