"""The data pipeline end to end on the real datatrove executors, bad input, reruns, and the executors' wiring."""

import gzip
import json
import random

import pytest

from hfpretrain.cli import main
from hfpretrain.data.clean import TextCleaner
from hfpretrain.data.pipeline import DataConfig, build_stages, make_executor, run_pipeline
from hfpretrain.data.readers import RobustJsonlReader, make_readers

JA = [
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所でニャーニャー泣いて"
    "いた事だけは記憶している。吾輩はここで始めて人間というものを見た。しかもあとで聞くとそれは書生という人間中で一番"
    "獰悪な種族であったそうだ。この書生というのは時々我々を捕えて煮て食うという話である。",
    "第一条　この法律は、国民の健康の保持に寄与することを目的とする。\n第二条　この法律において「事業者」とは、"
    "事業を行う者をいう。\n第三条　国は、前条の目的を達成するため、必要な施策を講ずるよう努めなければならない。",
    "富士山は、静岡県と山梨県にまたがる活火山である。標高は三千七百七十六メートルで、日本の最高峰である。古くから信仰の"
    "対象とされ、多くの芸術作品の題材ともなってきた。二千十三年には世界文化遺産に登録された。",
]


_WORD_LIST = """
猫 犬 東京 大阪 法律 規定 学校 先生 電車 天気 映画 音楽 研究 技術 歴史 文化 経済 政治 料理 旅行 季節 自然
科学 社会 言葉 時間 世界 家族 友人 仕事 病院 図書館 公園 駅前 新聞 雑誌 写真 野菜 果物 動物 植物 宇宙 地球
海岸 山脈 河川 森林 都市 農村 港町 工場 会社 銀行 市場 商店 大学 講義 試験 論文 実験 装置 機械 部品 材料 建物
道路 橋梁 鉄道 空港 船舶 祭り 伝統 芸術 文学 詩人 小説 物語 舞台 俳優 歌手 選手 試合 記録 結果 原因 目的 方法
理由 問題 課題 意見 提案 計画
"""
WORDS = tuple(_WORD_LIST.split())
PARTICLES = ("は", "が", "を", "に", "で", "と", "の", "も")
ENDINGS = ("である。", "だった。", "と考えられる。", "を示している。", "が知られている。", "とされる。")


def japanese_document(rng: random.Random, sentences: int = 12) -> str:
    """A distinct, well-formed Japanese document (every sentence drawn at random)."""
    out = []
    for _ in range(sentences):
        words = [rng.choice(WORDS) + rng.choice(PARTICLES) for _ in range(rng.randint(3, 6))]
        out.append("".join(words) + rng.choice(WORDS) + rng.choice(ENDINGS))
    return "".join(out[: sentences // 2]) + "\n" + "".join(out[sentences // 2 :])


def make_corpus(folder, n=60, seed=0):
    """Distinct Japanese documents plus a planted exact duplicate, a near duplicate, an English document and PII."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    docs = [{"id": f"ja-{i}", "text": japanese_document(rng)} for i in range(n)]
    docs.append({"id": "exact-copy", "text": docs[4]["text"]})
    docs.append({"id": "near-copy", "text": docs[7]["text"].replace("。", "。\n", 1) + "続きはこちら。"})
    docs.append({"id": "english", "text": "The quick brown fox jumps over the lazy dog. " * 10})
    docs.append({"id": "pii", "text": japanese_document(rng) + "\n連絡先はhanako@example.com、電話090-1234-5678まで。"})
    shuffled = docs[:]
    rng.shuffle(shuffled)
    half = len(shuffled) // 2
    # The originals come first in input order (file a before b), so they are the copies kept.
    first = [d for d in shuffled[:half] if d["id"] not in ("exact-copy", "near-copy")] + [docs[4], docs[7]]
    first = list({d["id"]: d for d in first}.values())
    second = [d for d in shuffled if d not in first]
    for name, part in (("a.jsonl.gz", first), ("b.jsonl", second)):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(folder / name, "wt", encoding="utf-8") as f:
            for d in part:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
    return docs


def read_documents(folder):
    docs = {}
    for path in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                docs[d["id"]] = d
    return docs


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    from hfpretrain.tokenizer import TokenizerTrainingConfig, train_tokenizer

    corpus = tmp_path_factory.mktemp("tokcorpus") / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in JA * 20), encoding="utf-8")
    out = tmp_path_factory.mktemp("tok")
    train_tokenizer([str(corpus)], TokenizerTrainingConfig(vocab_size=448, show_progress=False), out)
    return out


def test_end_to_end_local_pipeline(tmp_path, tokenizer_dir):
    make_corpus(tmp_path / "raw")
    out = tmp_path / "out"
    config = DataConfig(
        input=[str(tmp_path / "raw")],
        output=str(out),
        language="ja",
        tokenizer=str(tokenizer_dir),
        tasks=2,
        workers=1,
        valid_fraction=0.2,
    )
    funnel = run_pipeline(config)
    docs = read_documents(out / "documents")
    assert "english" not in docs
    assert ("ja-4" in docs) != ("exact-copy" in docs)  # exactly one of the exact pair is kept
    assert "near-copy" not in docs and "ja-7" in docs  # MinHash keeps the first document in input order
    assert "hanako@example.com" not in docs["pii"]["text"] and "<EMAIL>" in docs["pii"]["text"]
    assert funnel["documents_in"] == 64 and funnel["documents_out"] == len(docs)
    assert funnel["dropped"]["language_en"] == 1
    assert funnel["duplicates_removed"] == {"exact": 1, "minhash": 1}
    assert funnel["pii"]["email"] == 1 and funnel["pii"]["phone"] == 1
    assert json.loads((out / "funnel.json").read_text()) == funnel
    assert funnel["dedup_clusters"]["clusters"] >= 1
    # Removed documents are kept with their reason.
    assert read_documents(out / "removed" / "language")
    # Token shards: EOS after every document, train/valid split, readable by the packed dataset.
    from transformers import AutoTokenizer

    from hfpretrain.data.shards import PackedTokenDataset

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    train = PackedTokenDataset(out / "tokens" / "train", seq_len=32)
    valid = PackedTokenDataset(out / "tokens" / "valid", seq_len=32)
    assert train.num_tokens > valid.num_tokens > 0
    assert funnel["tokens"]["train"]["tokens"] == train.num_tokens
    eos = tokenizer.eos_token_id
    all_tokens = train.tokens(0, train.num_tokens).tolist() + valid.tokens(0, valid.num_tokens).tolist()
    assert all_tokens.count(eos) == len(docs)
    assert tokenizer.decode(all_tokens[: all_tokens.index(eos)]) in {d["text"] for d in docs.values()}


def test_rerun_after_a_failed_task_gives_the_same_output(tmp_path):
    make_corpus(tmp_path / "raw")
    clean = DataConfig(input=[str(tmp_path / "raw")], output=str(tmp_path / "clean"), tasks=2, workers=1)
    run_pipeline(clean)

    class FailOnce(TextCleaner):  # stands for a worker killed mid-task
        def filter(self, doc):
            if (tmp_path / "fail").exists() and doc.id == "ja-10":
                raise RuntimeError("simulated crash")
            return super().filter(doc)

    config = DataConfig(input=[str(tmp_path / "raw")], output=str(tmp_path / "crash"), tasks=2, workers=1)
    (tmp_path / "fail").touch()
    stages = build_stages(config)
    position = next(i for i, step in enumerate(stages[0].pipeline) if isinstance(step, TextCleaner))
    stages[0].pipeline[position] = FailOnce()
    with pytest.raises(Exception):  # noqa: B017 — the executor reports the failed task
        make_executor(config, stages[0]).run()
    completed = list((tmp_path / "crash" / "logs" / "filter" / "completions").iterdir())
    assert len(completed) == 1  # the other task finished and is not redone
    (tmp_path / "fail").unlink()
    run_pipeline(config)
    assert read_documents(tmp_path / "crash" / "documents") == read_documents(tmp_path / "clean" / "documents")


def test_bad_input_is_read_with_counted_reasons(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    good = "吾輩は猫である。名前はまだ無い。"
    lines = [
        b'\xef\xbb\xbf{"id": "bom", "text": "' + good.encode() + b'"}',
        b'{"id": "bad-utf8", "text": "' + good.encode() + b'\xff\xfe"}',
        b"[1, 2]",
        b"{not json",
        b'{"id": "missing"}',
        b'{"id": "null", "text": null}',
        b'{"id": "number", "text": 42}',
        b'{"id": "empty", "text": ""}',
        b'{"id": "spaces", "text": "   \\n  "}',
        bytes(random.Random(0).randrange(256) for _ in range(300)),
        b'{"id": "huge", "text": "' + ("あ" * 300_000).encode() + b'"}',
        b'{"id": "after", "text": "' + good.encode() + b'"}',
    ]
    (raw / "bad.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (raw / "empty.jsonl").write_bytes(b"")
    full = gzip.compress(b"".join(json.dumps({"id": f"gz{i}", "text": good}).encode() + b"\n" for i in range(50)))
    (raw / "truncated.jsonl.gz").write_bytes(full[: len(full) // 2])
    reader = make_readers([str(raw)])[0]
    assert isinstance(reader, RobustJsonlReader)
    docs = list(reader.run(rank=0, world_size=1))
    ids = [d.id for d in docs]
    assert ids[:2] == ["bom", "bad-utf8"] and "after" in ids and "huge" in ids
    assert docs[1].text == good + "\ufffd\ufffd"
    assert any(i.startswith("gz") for i in ids)  # what came before the damage
    stats = reader.stats.get_repr() if hasattr(reader.stats, "get_repr") else str(reader.stats)
    for reason in (
        "repaired_bom",
        "repaired_invalid_utf8",
        "skipped_json_not_an_object",
        "skipped_invalid_json",
        "skipped_missing_text",
        "skipped_text_not_a_string",
        "skipped_empty_text",
        "skipped_truncated_file",
    ):
        assert reason in stats, reason
    cleaner = TextCleaner(max_line_chars=10_000)
    huge = next(d for d in docs if d.id == "huge")
    assert cleaner.filter(huge) is True and max(len(line) for line in huge.text.split("\n")) == 10_000


def test_empty_input_folder_completes(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "nothing.jsonl").write_text("")
    config = DataConfig(input=[str(tmp_path / "raw")], output=str(tmp_path / "out"))
    funnel = run_pipeline(config)
    assert funnel["documents_in"] == 0 and funnel["documents_out"] == 0


def test_nfc_and_nfd_spellings_are_exact_duplicates(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    import unicodedata

    text = japanese_document(random.Random(1)) + "ガギグゲゴ" * 10
    with open(raw / "x.jsonl", "w", encoding="utf-8") as f:
        f.write(json.dumps({"id": "nfc", "text": unicodedata.normalize("NFC", text)}) + "\n")
        f.write(json.dumps({"id": "nfd", "text": unicodedata.normalize("NFD", text)}) + "\n")
    funnel = run_pipeline(DataConfig(input=[str(raw)], output=str(tmp_path / "out"), minhash_dedup=False))
    assert funnel["duplicates_removed"]["exact"] == 1
    assert list(read_documents(tmp_path / "out" / "documents")) == ["nfc"]


def test_executors_are_built_for_slurm_and_ray(tmp_path):
    config = DataConfig(
        input=[str(tmp_path)],
        output=str(tmp_path / "out"),
        executor="slurm",
        tasks=4,
        executor_options={"partition": "cpu", "time": "01:00:00"},
    )
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": JA[0]}) + "\n")
    stages = build_stages(config)
    from datatrove.executor import SlurmPipelineExecutor

    previous = None
    for stage in stages:
        executor = make_executor(config, stage, depends=previous)
        assert isinstance(executor, SlurmPipelineExecutor)
        assert executor.world_size == stage.tasks and executor.depends is previous
        previous = executor


def test_ray_executor_runs_the_pipeline(tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'hfpretrain[dev]')")
    make_corpus(tmp_path / "raw", n=10)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        config = DataConfig(
            input=[str(tmp_path / "raw")],
            output=str(tmp_path / "ray"),
            executor="ray",
            tasks=2,
            workers=2,
            minhash_dedup=False,
        )
        funnel = run_pipeline(config)
    finally:
        ray.shutdown()
    local = run_pipeline(
        DataConfig(input=[str(tmp_path / "raw")], output=str(tmp_path / "local"), tasks=2, minhash_dedup=False)
    )
    assert funnel["documents_out"] == local["documents_out"] > 0
    assert (
        read_documents(tmp_path / "ray" / "documents").keys() == read_documents(tmp_path / "local" / "documents").keys()
    )


def test_cli_data_run_with_yaml(tmp_path, capsys):
    make_corpus(tmp_path / "raw", n=12)
    (tmp_path / "data.yaml").write_text(f"input: [{tmp_path / 'raw'}]\nlanguage: ja\nminhash_dedup: false\n")
    assert main(["data", "run", "--config", str(tmp_path / "data.yaml"), "--output", str(tmp_path / "out")]) == 0
    funnel = json.loads((tmp_path / "out" / "funnel.json").read_text())
    assert {"documents_in", "documents_out", "dropped", "pii", "duplicates_removed"} <= set(funnel)
    (tmp_path / "bad.yaml").write_text("inputs: [x]\n")
    assert main(["data", "run", "--config", str(tmp_path / "bad.yaml")]) == 2
    assert "Unknown setting 'inputs'" in capsys.readouterr().err


def test_every_input_format_reads(tmp_path):
    import datasets
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    text = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "one.txt").write_text(text, encoding="utf-8")
    (tmp_path / "pq").mkdir()
    datasets.Dataset.from_dict({"id": ["p1"], "body": [text]}).to_parquet(tmp_path / "pq" / "x.parquet")
    datasets.Dataset.from_dict({"id": ["d1", "d2"], "text": [text, "二つ目"]}).save_to_disk(tmp_path / "ds")
    (tmp_path / "warc").mkdir()
    html = f"<html><head><meta charset='shift_jis'></head><body><article><p>{text * 3}</p></article></body></html>"
    with open(tmp_path / "warc" / "a.warc.gz", "wb") as f:
        writer = WARCWriter(f, gzip=True)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.0")
        record = writer.create_warc_record(
            "http://example.jp/",
            "response",
            payload=__import__("io").BytesIO(html.encode("cp932")),
            http_headers=headers,
        )
        writer.write_record(record)
    texts = {}
    for source, field in (("txt", "text"), ("pq", "body"), ("ds", "text"), ("warc", "text")):
        reader = make_readers([str(tmp_path / source)], text_field=field)[0]
        texts[source] = [d.text for d in reader.run(rank=0, world_size=1)]
    assert texts["txt"] == [text] and texts["pq"] == [text] and texts["ds"] == [text, "二つ目"]
    assert text in texts["warc"][0]  # decoded from Shift_JIS and extracted from the HTML


def test_english_pipeline_uses_datatrove_filters(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    good = (
        "The committee met on Tuesday to discuss the new budget. Members agreed that the proposal needed more work, "
        "and they asked the staff to prepare a revised version. The chair said the next meeting would take place "
        "in two weeks. Several residents spoke during the public comment period about the library hours, which "
        "were shortened last year. A teacher from the local school described how students use the reading room "
        "after classes, and a retired engineer asked whether the city could find volunteers to keep it open on "
        "weekends. The treasurer answered that the budget for staff is fixed until the spring, but that a pilot "
        "with volunteers could start sooner if the insurance questions were settled."
    )
    docs = [
        {"id": "good", "text": good},
        {"id": "menu", "text": "Home\nLogin\nMenu\nHome\nLogin\nMenu\n" * 20},
        {"id": "ja", "text": "吾輩は猫である。名前はまだ無い。" * 5},
    ]
    (raw / "x.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    funnel = run_pipeline(DataConfig(input=[str(raw)], output=str(tmp_path / "out"), language="en"))
    assert list(read_documents(tmp_path / "out" / "documents")) == ["good"]
    steps = {r["step"] for r in funnel["steps"]}
    assert {"Gopher Repetition", "Gopher Quality", "C4 Quality", "FineWeb Quality"} <= steps
    assert funnel["dropped"]["language_ja"] == 1


def test_english_quality_options_per_filter(tmp_path):
    from hfpretrain.data.pipeline import quality_steps

    config = DataConfig(
        language="en",
        write_removed=False,
        quality_options={
            "gopher_quality": {"max_non_alpha_words_ratio": 0.5},
            "gopher_repetition": {"top_n_grams": [[2, 0.4]]},  # YAML lists become datatrove's tuples
            "fineweb_quality": False,
        },
    )
    steps = quality_steps(config, tmp_path)
    names = [type(s).__name__ for s in steps]
    assert "FineWebQualityFilter" not in names and "C4QualityFilter" in names
    gopher = next(s for s in steps if type(s).__name__ == "GopherQualityFilter")
    assert gopher.max_non_alpha_words_ratio == 0.5
    repetition = next(s for s in steps if type(s).__name__ == "GopherRepetitionFilter")
    assert repetition.top_n_grams == ((2, 0.4),)
    with pytest.raises(ValueError, match="per filter"):
        quality_steps(DataConfig(language="en", quality_options={"min_doc_words": 10}), tmp_path)
