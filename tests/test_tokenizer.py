"""Tokenizer training: round trips, byte fallback, special tokens, determinism, bad input, sources."""

import gzip
import json
import subprocess
import sys

import pytest
from transformers import AutoTokenizer

from hfpretrain.cli import main
from hfpretrain.text_sources import SourceStats, clean_text, iter_documents
from hfpretrain.tokenizer import (
    BOS,
    EOS,
    PAD,
    UNK,
    TokenizerTrainingConfig,
    pretokenizer_pattern,
    tokenizer_stats,
    train_tokenizer,
)

# A hand-written multi-script corpus: Japanese prose and law, English, code, numbers, symbols.
CORPUS = [
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。",
    "第一条　この法律は、国民の健康の保持に寄与することを目的とする。\n"
    "第二条　前条の規定により届け出なければならない。",
    "東京都庁に行きました。カタカナのコンピューターとｶﾀｶﾅ。",
    "The quick brown fox jumps over the lazy dog. It's 2024, isn't it?",
    "def add(a, b):\n    return a + b  # 足し算\n\tprint('done')",
    "価格は１２３４円、2024年12月4日に発売。電話 03-1234-5678。",
    "Ωmega and naïve café — «quotes» ‘single’ “double”.",
] * 30

HARD = [
    "👨‍👩‍👧‍👦 family, 🇯🇵 flag, 👍🏽 thumbs",  # emoji, ZWJ sequences, modifiers, flags
    "𠮷野家の𩸽と𠀋",  # kanji outside the BMP, never seen in training
    "ＡＢＣ全角ａｂｃ１２３！？",  # full-width forms
    "e\u0301 a\u0308 \u1100\u1161\u11a8",  # combining marks, Hangul jamo
    "bell\x07 escape\x1b[0m vertical\x0b form\x0c",  # control characters
    "tabs\t\t\tand    runs of     spaces   \n\n\n",
    "混在 mixed テキスト with 数字 42 and коды",
    "<|end_of_text|> is special; <0x41> is not a byte here",
    "",  # empty
]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "train.jsonl"
    path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in CORPUS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(corpus_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("tok")
    config = TokenizerTrainingConfig(vocab_size=500, show_progress=False, num_reserved_tokens=3)
    train_tokenizer([str(corpus_file)], config, output=out)
    return out


def test_round_trip_on_every_kind_of_string(trained):
    tokenizer = AutoTokenizer.from_pretrained(trained)
    for text in CORPUS[:7] + HARD:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert tokenizer.decode(ids) == text, repr(text)
        assert tokenizer.unk_token_id not in ids


def test_unseen_characters_use_byte_fallback_not_unk(trained):
    tokenizer = AutoTokenizer.from_pretrained(trained)
    tokens = tokenizer.tokenize("𩸽")  # U+29E3D, 4 UTF-8 bytes
    assert tokens == ["<0xF0>", "<0xA9>", "<0xB8>", "<0xBD>"]
    stats = tokenizer_stats(tokenizer, HARD)
    assert stats["unk_count"] == 0 and stats["roundtrip_exact"]
    assert stats["byte_fallback_fraction"] > 0


def test_special_tokens_and_ids(trained):
    tokenizer = AutoTokenizer.from_pretrained(trained)
    assert (tokenizer.pad_token, tokenizer.bos_token, tokenizer.eos_token, tokenizer.unk_token) == (PAD, BOS, EOS, UNK)
    assert (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (
        0,
        1,
        2,
        3,
    )
    assert tokenizer.convert_tokens_to_ids(["<|reserved_0|>", "<|reserved_2|>"]) == [4, 6]
    assert tokenizer.convert_tokens_to_ids("<0x00>") == 7  # byte tokens follow the special tokens
    assert len(tokenizer) == 512  # 500 rounded up to a multiple of 64
    # Nothing is added on encode; pretraining appends EOS after each document.
    ids = tokenizer("猫である").input_ids
    assert BOS not in tokenizer.convert_ids_to_tokens(ids) and EOS not in tokenizer.convert_ids_to_tokens(ids)
    assert tokenizer.decode([*ids, tokenizer.eos_token_id], skip_special_tokens=True) == "猫である"
    # A special token written in text is the special token (as in every HF tokenizer); byte-token text is not.
    assert tokenizer("<|end_of_text|>", add_special_tokens=False).input_ids == [2]
    assert 7 + 0x41 not in tokenizer("<0x41>", add_special_tokens=False).input_ids


def test_japanese_pretokenization_keeps_scripts_apart():
    from tokenizers import Regex, pre_tokenizers

    split = pre_tokenizers.Split(Regex(pretokenizer_pattern()), behavior="isolated")
    pieces = [p for p, _ in split.pre_tokenize_str("東京都庁に行きました。カタカナー Hello world 2024年")]
    assert pieces == [
        "東京都庁",
        "に",
        "行",
        "きました",
        "。",
        "カタカナー",
        " Hello",
        " world",
        " ",
        "2",
        "0",
        "2",
        "4",
        "年",
    ]
    triples = pre_tokenizers.Split(Regex(pretokenizer_pattern("triples")), behavior="isolated")
    assert [p for p, _ in triples.pre_tokenize_str("12345")] == ["123", "45"]


def test_tokens_never_cross_scripts(trained):
    tokenizer = AutoTokenizer.from_pretrained(trained)
    from hfpretrain.text_sources import script_of

    for text in CORPUS[:3]:
        encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        for start, end in encoding["offset_mapping"]:
            scripts = {script_of(c) for c in text[start:end]} - {"space"}
            assert len(scripts) <= 1, text[start:end]


def test_training_is_deterministic_across_processes(corpus_file, tmp_path):
    script = (
        "import sys; from hfpretrain.tokenizer import TokenizerTrainingConfig, train_tokenizer; "
        "train_tokenizer([sys.argv[1]], TokenizerTrainingConfig(vocab_size=448, max_chars=3000, show_progress=False),"
        " output=sys.argv[2])"
    )
    outputs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        subprocess.run(
            [sys.executable, "-c", script, str(corpus_file), str(out)],
            check=True,
            timeout=300,
            env={"PYTHONHASHSEED": str(i), "PATH": "/usr/bin:/bin"},
        )
        outputs.append((out / "tokenizer.json").read_bytes())
    assert outputs[0] == outputs[1]


def test_nfkc_is_available_and_lossy(corpus_file, tmp_path):
    config = TokenizerTrainingConfig(vocab_size=448, normalization="nfkc", show_progress=False)
    tokenizer, _ = train_tokenizer([str(corpus_file)], config, output=tmp_path)
    ids = tokenizer("１２３ｶﾀｶﾅ", add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == "123カタカナ"


def test_unigram_has_working_byte_fallback(corpus_file, tmp_path):
    config = TokenizerTrainingConfig(vocab_size=448, algorithm="unigram", show_progress=False)
    train_tokenizer([str(corpus_file)], config, output=tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert tokenizer.tokenize("𩸽") == ["<0xF0>", "<0xA9>", "<0xB8>", "<0xBD>"]
    for text in CORPUS[:7] + HARD:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids) == text
    # Byte tokens are ordinary vocabulary entries, not special tokens deleted by skip_special_tokens.
    assert tokenizer.decode(tokenizer("𩸽", add_special_tokens=False).input_ids, skip_special_tokens=True) == "𩸽"


def test_max_token_length(corpus_file, tmp_path):
    config = TokenizerTrainingConfig(vocab_size=640, max_token_length=3, show_progress=False)
    tokenizer, _ = train_tokenizer([str(corpus_file)], config)
    longest = max(len(tokenizer.decode([i])) for i in range(len(tokenizer)) if i not in tokenizer.all_special_ids)
    assert longest <= 3


def test_bad_input_is_cleaned_or_skipped_with_counts(tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [
        b'\xef\xbb\xbf{"text": "BOM first line"}',
        b'{"text": "lone \\ud800 surrogate"}',
        b'{"text": "pair \\ud83d\\ude00 ok"}',
        b'{"text": "nul\\u0000 and nonchar \\ufdd0\\uffff"}',
        b'{"text": ""}',
        b'{"text": "   "}',
        b"not json at all",
        b"[1, 2, 3]",
        b'{"other": "no text field"}',
        b'{"text": 42}',
        b'{"text": "invalid utf8 \xff\xfe here"}',
        b'{"text": "' + b"x" * 2500 + b"\\n" + b"y" * 2500 + b'"}',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    stats = SourceStats()
    docs = list(iter_documents([path], stats=stats, max_doc_chars=3000))
    assert docs[0] == "BOM first line"
    assert docs[1] == "lone \ufffd surrogate"
    assert docs[2] == "pair 😀 ok"
    assert docs[3] == "nul and nonchar "
    assert "invalid utf8 \ufffd\ufffd here" in docs
    assert stats.skipped == {
        "empty": 2,
        "invalid_json": 1,
        "json_not_an_object": 1,
        "missing_field_text": 1,
        "text_not_a_string": 1,
    }
    assert stats.repaired == {
        "bom": 1,
        "lone_surrogate": 1,
        "nul_or_noncharacter": 1,
        "invalid_utf8": 1,
        "split_enormous_document": 1,
    }
    assert docs[-2:] == ["x" * 2500 + "\n", "y" * 2500]
    # Training on it works, and encoding what cleaning leaves works too.
    tokenizer, report = train_tokenizer([str(path)], TokenizerTrainingConfig(vocab_size=384, show_progress=False))
    assert report["source"]["skipped"]["invalid_json"] == 1
    text = clean_text("lone \ud800 and \x00 nul")
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False).input_ids) == text


def test_sources_jsonl_gz_txt_parquet_and_datasets(tmp_path):
    import datasets

    texts = ["一つ目の文書です。", "second document", "三つ目"]
    with gzip.open(tmp_path / "a.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"content": texts[0]}, ensure_ascii=False) + "\n")
    (tmp_path / "b.txt").write_text(texts[1], encoding="utf-8")
    datasets.Dataset.from_dict({"content": [texts[2]]}).to_parquet(tmp_path / "c.parquet")
    found = list(iter_documents([tmp_path], text_field="content"))
    assert found == texts
    saved = tmp_path / "ds"
    datasets.Dataset.from_dict({"text": texts * 20}).save_to_disk(saved)
    tokenizer, report = train_tokenizer([str(saved)], TokenizerTrainingConfig(vocab_size=384, show_progress=False))
    assert report["source"]["documents"] == 60
    assert tokenizer.decode(tokenizer("一つ目", add_special_tokens=False).input_ids) == "一つ目"


def test_character_budget_samples_every_document(corpus_file):
    from hfpretrain.tokenizer import sample_documents

    config = TokenizerTrainingConfig(max_chars=2000, show_progress=False)
    sampled = list(sample_documents([str(corpus_file)], config, SourceStats()))
    total = sum(map(len, sampled))
    assert 1500 < total < 2600
    assert len(sampled) == len(CORPUS)  # every document contributes


def test_cli_train_and_stats(corpus_file, tmp_path, capsys):
    yaml_path = tmp_path / "tok.yaml"
    yaml_path.write_text("vocab_size: 448\nnum_reserved_tokens: 1\n")
    out = tmp_path / "tok"
    assert (
        main(
            [
                "tokenizer",
                "train",
                "--input",
                str(corpus_file),
                "--output",
                str(out),
                "--config",
                str(yaml_path),
                "--vocab-size",
                "512",
            ]
        )
        == 0
    )
    assert len(AutoTokenizer.from_pretrained(out)) == 512  # the flag overrides the YAML file
    assert (out / "stats.json").is_file() and (out / "training_report.json").is_file()
    config = json.loads((out / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    capsys.readouterr()
    assert main(["tokenizer", "stats", str(out), "--input", str(corpus_file), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    for key in ("chars_per_token", "bytes_per_token", "roundtrip_exact", "byte_fallback_fraction", "unk_count"):
        assert key in stats
    assert stats["roundtrip_exact"] and stats["unk_count"] == 0 and stats["chars_per_token"] > 1.0
    yaml_path.write_text("vocab_sise: 448\n")
    assert (
        main(["tokenizer", "train", "--input", str(corpus_file), "--output", str(out), "--config", str(yaml_path)]) == 2
    )
    assert "Unknown setting 'vocab_sise'" in capsys.readouterr().err


def test_datatrove_document_tokenizer_accepts_the_tokenizer(trained, tmp_path):
    from datatrove.data import Document
    from datatrove.pipeline.tokens import DocumentTokenizer
    from datatrove.utils.dataset import DatatroveFolderDataset

    step = DocumentTokenizer(
        output_folder=str(tmp_path / "tokens"),
        tokenizer_name_or_path=str(trained / "tokenizer.json"),
        eos_token=EOS,
        save_filename="shard",
        shuffle_documents=False,
    )
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(["吾輩は猫である。", "Hello world"])]
    step.run(iter(docs), rank=0, world_size=1)
    tokenizer = AutoTokenizer.from_pretrained(trained)
    expected = []
    for d in docs:
        expected += [*tokenizer(d.text, add_special_tokens=False).input_ids, tokenizer.eos_token_id]
    dataset = DatatroveFolderDataset(str(tmp_path / "tokens"), seq_len=len(expected) - 1, token_size=2)
    assert dataset[0]["input_ids"].tolist() == expected


def test_hub_source_names():
    from hfpretrain.text_sources import is_dataset_source, parse_hub_source

    assert parse_hub_source("wikimedia/wikipedia:20231101.ja") == ("wikimedia/wikipedia", "20231101.ja")
    assert parse_hub_source("owner/name") == ("owner/name", None)
    assert is_dataset_source("wikimedia/wikipedia:20231101.ja")
    assert not is_dataset_source("missing/file.jsonl")
