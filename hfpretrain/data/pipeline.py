"""The data pipeline: `DataConfig` → lists of datatrove steps → datatrove executors → `funnel.json`.

Stages (each a datatrove pipeline run by the chosen executor; a rerun skips the tasks that completed):

1. `filter`        read → clean → language id → quality filters → PII → `work/filtered/` (+ exact-dedup signatures)
2. `exact`         find exact duplicates (NFC, whitespace-normalized text; the first copy is kept)
3. `exact-filter`  drop them → `work/exact_deduped/` (+ MinHash signatures)
4. `buckets`       MinHash buckets (one task per bucket)      5. `clusters`  MinHash clusters, first document kept
6. `dedup`         drop near duplicates → `documents/*.jsonl.gz`
6. `tokens-train`, `tokens-valid` (with a tokenizer): datatrove's DocumentTokenizer, EOS after every document,
               shuffled, into `tokens/train/` and `tokens/valid/` (split by a stable hash of the document id)

Dropped documents go to `removed/<step>/` when `write_removed` is on. `funnel.json` sums it all up.
"""

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LANGUAGES = ("ja", "en")
EXECUTORS = ("local", "slurm", "ray")


@dataclass
class DataConfig:
    """Settings of `hfpretrain data run`, from defaults < `--config data.yaml` < command-line flags."""

    input: list[str] = field(default_factory=list)
    """Files or folders (JSONL/.gz, Parquet, .txt, WARC), `datasets` folders, or Hub ids[:config] (streamed)."""
    output: str = "out"
    """Output folder: documents/, removed/, tokens/, funnel.json, logs/, work/."""
    language: str = "ja"
    """ja (our Japanese filters) or en (datatrove's Gopher, C4 and FineWeb filters with their defaults)."""
    input_format: str = "auto"
    """auto (by file names), jsonl, parquet, txt, warc or datasets."""
    text_field: str = "text"
    """Field holding the text in JSONL/Parquet/datasets inputs."""
    limit: int = -1
    """Read at most this many documents per task and input (-1: all); for trials."""
    tokenizer: str | None = None
    """Tokenizer folder (or tokenizer.json) to write token shards with; None: stop after the documents."""
    valid_fraction: float = 0.005
    """Share of documents (by a stable hash of their id) that go to tokens/valid."""
    seed: int = 0
    """Seed of the train/valid split and of the shard shuffling."""
    tasks: int = 1
    """datatrove tasks of the parallel stages (input files are split between tasks; more tasks = finer resumption)."""
    workers: int = 1
    """Tasks run at once by the local executor (processes)."""
    executor: str = "local"
    """local, slurm or ray."""
    executor_options: dict = field(default_factory=dict)
    """Extra arguments of the executor, e.g. slurm: {partition: cpu, time: "04:00:00"}; ray: {cpus_per_task: 1}."""
    lid_model: str | None = None
    """Path of a fastText language-id model (lid.176.bin, GlotLID); None: the built-in script-statistics detector."""
    min_language_score: float = 0.5
    """Documents whose detected language scores lower are dropped."""
    quality: bool = True
    """Apply the quality filters of the language."""
    quality_options: dict = field(default_factory=dict)
    """Threshold overrides. Japanese: arguments of JapaneseQualityFilter. English: per filter — `gopher_repetition`,
    `gopher_quality`, `c4_quality`, `fineweb_quality` — a dict of that datatrove filter's arguments, or false."""
    pii: bool = True
    """Replace e-mails, public IPs, Japanese phone numbers, postal codes, card numbers and My Numbers."""
    pii_options: dict = field(default_factory=dict)
    """Arguments of PIIFormatter (kinds, placeholders, public_ips_only)."""
    exact_dedup: bool = True
    """Remove exact duplicates (NFC, whitespace-normalized text)."""
    minhash_dedup: bool = True
    """Remove near duplicates with MinHash."""
    minhash_ngrams: int = 5
    """n-gram size: characters for Japanese, words for English."""
    minhash_buckets: int = 20
    """MinHash bands: 20 × 6 makes a pair with Jaccard 0.7 a candidate with p ≈ 0.95 (0.85: p ≈ 1.0)."""
    minhash_hashes_per_bucket: int = 6
    """MinHash rows per band."""
    minhash_min_similarity: float | None = 0.6
    """Candidate pairs are kept only if their whole signatures agree on this share of values (≈ Jaccard similarity
    of the n-gram sets); None trusts the banding alone (datatrove's behaviour). 0.6 keeps short documents that got
    a footer and ~1% edited characters (measured Jaccard 0.62–0.95 on ja_dirty_synthetic) and rejects pairs that
    only share boilerplate."""
    write_removed: bool = True
    """Write dropped documents to removed/<step>/ with their reason."""
    max_doc_chars: int = 1_000_000
    """Longer documents are truncated at a line break."""
    max_line_chars: int = 20_000
    """Longer lines are wrapped."""

    def __post_init__(self):
        if isinstance(self.input, str):
            self.input = [self.input]
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}; got {self.language!r}")
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}; got {self.executor!r}")
        if self.tasks < 1 or self.workers < 1:
            raise ValueError("tasks and workers must be >= 1")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ValueError("valid_fraction is a share in [0, 1)")


@dataclass
class Stage:
    name: str
    pipeline: list
    tasks: int


def _writer(folder: Path, compression: str | None = "gzip"):
    from datatrove.pipeline.writers import JsonlWriter

    return JsonlWriter(
        str(folder), output_filename="${rank}.jsonl" + (".gz" if compression else ""), compression=compression
    )


def _tokenizer_file(path: str) -> str:
    """datatrove's DocumentTokenizer needs the tokenizer.json file itself offline (a folder is taken for a Hub id)."""
    candidate = Path(path)
    if candidate.is_dir():
        candidate = candidate / "tokenizer.json"
    if not candidate.is_file():
        raise FileNotFoundError(f"No tokenizer.json at {path}; train one with `hfpretrain tokenizer train`.")
    return str(candidate)


def quality_steps(config: DataConfig, removed: Path) -> list:
    """Language id and quality filters for the configured language."""
    from .lid import FastTextLanguageFilter, ScriptLanguageFilter

    def excluded(name: str):
        return _writer(removed / name) if config.write_removed else None

    if config.lid_model:
        lid = FastTextLanguageFilter(
            model_path=config.lid_model,
            languages=[config.language],
            min_score=config.min_language_score,
            exclusion_writer=excluded("language"),
        )
    else:
        lid = ScriptLanguageFilter(
            languages=[config.language], min_score=config.min_language_score, exclusion_writer=excluded("language")
        )
    steps = [lid]
    if not config.quality:
        return steps
    if config.language == "ja":
        from .quality_ja import JapaneseQualityFilter

        steps.append(JapaneseQualityFilter(exclusion_writer=excluded("quality_ja"), **config.quality_options))
    else:
        from datatrove.pipeline.filters import (
            C4QualityFilter,
            FineWebQualityFilter,
            GopherQualityFilter,
            GopherRepetitionFilter,
        )

        filters = {
            "gopher_repetition": (GopherRepetitionFilter, {}),
            "gopher_quality": (GopherQualityFilter, {}),
            "c4_quality": (C4QualityFilter, {"filter_no_terminal_punct": False}),
            "fineweb_quality": (FineWebQualityFilter, {}),
        }
        unknown = set(config.quality_options) - set(filters)
        if unknown:
            raise ValueError(
                f"quality_options for English are per filter: {', '.join(filters)} (each a dict of that datatrove "
                f"filter's arguments, or false to leave it out); unknown: {', '.join(sorted(unknown))}"
            )
        for name, (cls, defaults) in filters.items():
            options = config.quality_options.get(name, {})
            if options is False:
                continue
            # YAML has no tuples: the n-gram thresholds come as lists of [n, fraction]
            options = {k: tuple(map(tuple, v)) if k.endswith("n_grams") else v for k, v in dict(options).items()}
            steps.append(cls(**{**defaults, **options}, exclusion_writer=excluded(name)))
    return steps


def build_stages(config: DataConfig) -> list[Stage]:
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.exact_dedup import ExactDedupFilter, ExactFindDedups
    from datatrove.pipeline.tokens import DocumentTokenizer

    from .clean import TextCleaner
    from .dedup import (
        CharacterTokenizer,
        ExactDedupSignatureTee,
        OrderedMinhashCluster,
        exact_dedup_config,
        minhash_config,
    )
    from .readers import RobustJsonlReader, make_readers

    if not config.input:
        raise ValueError("No input: pass --input FILE_OR_DIR [...] or set `input:` in the config file.")
    out = Path(config.output)
    work, removed = out / "work", out / "removed"
    exact = exact_dedup_config()
    mh = minhash_config(
        config.language,
        config.minhash_ngrams,
        config.minhash_buckets,
        config.minhash_hashes_per_bucket,
        config.seed + 1,
    )
    word_tokenizer = CharacterTokenizer() if config.language == "ja" else "en"

    first = make_readers(config.input, config.text_field, config.input_format, config.limit)
    first.append(
        TextCleaner(
            config.max_doc_chars,
            config.max_line_chars,
            exclusion_writer=_writer(removed / "clean") if config.write_removed else None,
        )
    )
    first += quality_steps(config, removed)
    if config.pii:
        from .pii import PIIFormatter

        first.append(PIIFormatter(**config.pii_options))
    # Exact dedup runs first and MinHash on its output: each dedup filter must be the first step after its reader,
    # because both identify documents by their position in the stream their signatures were computed on.
    minhash_input = work / ("exact_deduped" if config.exact_dedup else "filtered")
    first.append(_writer(work / "filtered"))
    if config.exact_dedup:
        first.append(ExactDedupSignatureTee(str(work / "exact_signatures"), exact))
    elif config.minhash_dedup:
        first.append(MinhashDedupSignature(str(work / "minhash_signatures"), config=mh, language=word_tokenizer))
    stages = [Stage("filter", first, config.tasks)]

    def excluded(name: str):
        return _writer(removed / name) if config.write_removed else None

    final_source = work / "filtered"
    if config.exact_dedup:
        stages.append(
            Stage("exact", [ExactFindDedups(str(work / "exact_signatures"), str(work / "exact_dups"), exact)], 1)
        )
        exact_stage = [
            RobustJsonlReader(str(work / "filtered"), glob_pattern="*.jsonl.gz"),
            ExactDedupFilter(str(work / "exact_dups"), exact, exclusion_writer=excluded("exact_dedup")),
        ]
        if config.minhash_dedup:
            exact_stage.append(_writer(minhash_input))
            exact_stage.append(
                MinhashDedupSignature(str(work / "minhash_signatures"), config=mh, language=word_tokenizer)
            )
        else:
            exact_stage.append(_writer(out / "documents"))
        stages.append(Stage("exact-filter", exact_stage, config.tasks))
        final_source = minhash_input
    if config.minhash_dedup:
        stages.append(
            Stage(
                "buckets",
                [MinhashDedupBuckets(str(work / "minhash_signatures"), str(work / "minhash_buckets"), config=mh)],
                mh.num_buckets,
            )
        )
        stages.append(
            Stage(
                "clusters",
                [
                    OrderedMinhashCluster(
                        str(work / "minhash_buckets"),
                        str(work / "minhash_clusters"),
                        mh,
                        signatures_folder=str(work / "minhash_signatures"),
                        min_similarity=config.minhash_min_similarity,
                    )
                ],
                1,
            )
        )
        last = [
            RobustJsonlReader(str(final_source), glob_pattern="*.jsonl.gz"),
            MinhashDedupFilter(
                str(work / "minhash_clusters"), load_cluster_ids=True, exclusion_writer=excluded("minhash_dedup")
            ),
            _writer(out / "documents"),
        ]
        stages.append(Stage("dedup", last, config.tasks))
    elif not config.exact_dedup:
        last = [RobustJsonlReader(str(final_source), glob_pattern="*.jsonl.gz"), _writer(out / "documents")]
        stages.append(Stage("dedup", last, config.tasks))

    if config.tokenizer:
        from .shards import SplitFilter

        tokenizer_file = _tokenizer_file(config.tokenizer)
        eos = _eos_token(tokenizer_file)
        for split in ("train", "valid"):
            stages.append(
                Stage(
                    f"tokens-{split}",
                    [
                        RobustJsonlReader(str(out / "documents"), glob_pattern="*.jsonl.gz"),
                        SplitFilter(split, config.valid_fraction, config.seed),
                        DocumentTokenizer(
                            str(out / "tokens" / split),
                            tokenizer_name_or_path=tokenizer_file,
                            eos_token=eos,
                            save_filename=split,
                            shuffle_documents=True,
                            seed=config.seed,
                        ),
                    ],
                    config.tasks,
                )
            )
    return stages


def _eos_token(tokenizer_file: str) -> str:
    """The EOS string from the tokenizer folder's config (ours: <|end_of_text|>), else the last special token."""
    folder = Path(tokenizer_file).parent
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = folder / name
        if path.is_file():
            eos = json.loads(path.read_text(encoding="utf-8")).get("eos_token")
            if isinstance(eos, dict):
                eos = eos.get("content")
            if eos:
                return eos
    raise ValueError(f"{folder} does not say which token is EOS (eos_token in tokenizer_config.json).")


def make_executor(config: DataConfig, stage: Stage, depends=None):
    logging_dir = str(Path(config.output) / "logs" / stage.name)
    if config.executor == "local":
        import platform

        from datatrove.executor import LocalPipelineExecutor

        # datatrove's default start method, forkserver, makes every worker import hfpretrain (torch, transformers)
        # again: ~3 s per worker, which erased the gain of a second worker on tasks of a few seconds
        # (BENCHMARKS.md). Forking is safe here: the parent has started no thread pool (no tokenizer or torch work)
        # when the workers start. Override with executor_options: {start_method: forkserver}.
        options = {"start_method": "fork"} if platform.system() == "Linux" else {}
        options.update(config.executor_options)

        workers = min(config.workers, stage.tasks)
        return LocalPipelineExecutor(
            stage.pipeline, tasks=stage.tasks, workers=workers, logging_dir=logging_dir, depends=depends, **options
        )
    if config.executor == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        options = {"time": "24:00:00", "partition": "cpu", "cpus_per_task": 1, **config.executor_options}
        return SlurmPipelineExecutor(
            stage.pipeline,
            tasks=stage.tasks,
            logging_dir=logging_dir,
            depends=depends,
            job_name=f"hfpretrain-{stage.name}",
            **options,
        )
    from datatrove.executor import RayPipelineExecutor

    return RayPipelineExecutor(
        stage.pipeline,
        tasks=stage.tasks,
        workers=config.workers,
        logging_dir=logging_dir,
        depends=depends,
        **config.executor_options,
    )


def run_pipeline(config: DataConfig) -> dict[str, Any]:
    """Build and run every stage; returns the funnel (also written to output/funnel.json)."""
    from .funnel import build_funnel, format_funnel

    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "data_config.json").write_text(json.dumps(asdict(config), indent=2, ensure_ascii=False) + "\n")
    stages = build_stages(config)
    executors = []
    for stage in stages:
        executors.append(
            make_executor(config, stage, depends=executors[-1] if executors and config.executor != "local" else None)
        )
    if config.executor == "local":
        for executor in executors:
            executor.run()
    elif config.executor == "ray":
        executors[-1].run()  # runs the chain of dependencies, waiting for each
    else:
        executors[-1].run()  # submits the chain of Slurm jobs; their stats arrive when the jobs finish
        return {"submitted": [s.name for s in stages], "logs": str(out / "logs")}
    funnel = build_funnel(config, [s.name for s in stages])
    (out / "funnel.json").write_text(json.dumps(funnel, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(format_funnel(funnel))
    return funnel


def clean_work(config: DataConfig) -> None:
    """Remove intermediate files (signatures, buckets, filtered copy) once the documents are final."""
    shutil.rmtree(Path(config.output) / "work", ignore_errors=True)
