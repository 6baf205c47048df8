"""Data pipeline benchmark: throughput against datatrove's stock Japanese configuration, scaling with workers, and
quality on labelled dirty data.

1. Throughput, one core, stage by stage, on the same Japanese documents (ja_law_egov, ja_wikipedia_kwc, ja_aozora
   train files): ours (cleaner, script-statistics language id, Japanese quality rules, PII, MinHash signatures on
   character 5-grams) against datatrove's stock configuration with language="ja" (Gopher repetition and quality, C4
   and FineWeb filters, MinHash signatures on word 5-grams — all word-tokenizing through spaCy + SudachiPy).
2. Scaling: our first stage under datatrove's LocalPipelineExecutor with 1 and 2 workers.
3. Quality on ja_dirty_synthetic (labelled): exact/near-duplicate recall and precision, PII recall per kind and
   false positives on clean documents, clean documents wrongly dropped, noise documents dropped or repaired.
4. The English path on web_dirty_trafilatura: the funnel.

    pip install -e ".[bench]" sudachipy sudachidict_core     # the stock configuration needs SudachiPy
    python benchmarks/data_bench.py --max-mb 8
"""

import argparse
import gzip
import json
import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from datatrove.data import Document

from hfpretrain.text_sources import iter_documents

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
JA_SETS = ("ja_law_egov", "ja_wikipedia_kwc", "ja_aozora")


def load_sample(max_mb: float) -> list[Document]:
    """Documents from the three Japanese train files in equal byte shares, up to max_mb of UTF-8 text."""
    budget = max_mb * 1e6 / len(JA_SETS)
    docs = []
    for name in JA_SETS:
        size = 0
        for i, text in enumerate(iter_documents([str(DATA / name / "train.jsonl")])):
            docs.append(Document(text=text, id=f"{name}/{i}"))
            size += len(text.encode("utf-8"))
            if size >= budget:
                break
    return docs


def time_step(step, docs: list[Document]) -> tuple[float, int]:
    """Seconds for a datatrove step to consume copies of `docs` (single process), and documents it let through."""
    copies = [Document(text=d.text, id=d.id, metadata=dict(d.metadata)) for d in docs]
    start = time.perf_counter()
    out = step.run(iter(copies), rank=0, world_size=1)
    kept = sum(1 for _ in out) if out is not None else 0
    return time.perf_counter() - start, kept


def throughput(docs: list[Document]) -> dict:
    from datatrove.pipeline.dedup import MinhashDedupSignature
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    from hfpretrain.data.clean import TextCleaner
    from hfpretrain.data.dedup import CharacterTokenizer, minhash_config
    from hfpretrain.data.lid import ScriptLanguageFilter
    from hfpretrain.data.pii import PIIFormatter
    from hfpretrain.data.quality_ja import JapaneseQualityFilter

    mb = sum(len(d.text.encode("utf-8")) for d in docs) / 1e6
    work = Path(tempfile.mkdtemp(prefix="databench_"))
    ours = {
        "clean": TextCleaner(),
        "language id": ScriptLanguageFilter(languages=["ja"]),
        "quality (ja)": JapaneseQualityFilter(),
        "PII": PIIFormatter(),
        "MinHash signatures": MinhashDedupSignature(
            str(work / "ours_sigs"), config=minhash_config("ja"), language=CharacterTokenizer()
        ),
    }
    stock = {
        "Gopher repetition": GopherRepetitionFilter(language="ja"),
        "Gopher quality": GopherQualityFilter(language="ja"),
        "C4 quality": C4QualityFilter(language="ja", filter_no_terminal_punct=False),
        "FineWeb quality": FineWebQualityFilter(language="ja"),
        "MinHash signatures": MinhashDedupSignature(str(work / "stock_sigs"), language="ja"),
    }
    results = {"megabytes": mb, "documents": len(docs), "ours": {}, "stock": {}}
    for side, steps in (("ours", ours), ("stock", stock)):
        for name, step in steps.items():
            seconds, kept = time_step(step, docs)
            results[side][name] = {"seconds": seconds, "mb_per_s": mb / seconds, "kept": kept}
            print(
                f"  {side:<5} {name:<20} {mb / seconds:8.2f} MB/s  ({seconds:6.1f} s, kept {kept}/{len(docs)})",
                flush=True,
            )
    filters = ("clean", "language id", "quality (ja)", "PII")
    ours_filter = sum(results["ours"][n]["seconds"] for n in filters)
    ours_total = ours_filter + results["ours"]["MinHash signatures"]["seconds"]
    stock_total = sum(r["seconds"] for r in results["stock"].values())
    results["summary"] = {
        "ours_filters_mb_per_s": mb / ours_filter,
        "ours_minhash_mb_per_s": results["ours"]["MinHash signatures"]["mb_per_s"],
        "ours_end_to_end_mb_per_s": mb / ours_total,
        "stock_end_to_end_mb_per_s": mb / stock_total,
        "speedup": stock_total / ours_total,
    }
    return results


def scaling(docs: list[Document], tasks: int = 4, start_method: str = "fork") -> dict:
    """Wall time of our first stage (read → clean → lid → quality → PII → write + signatures) with 1 and 2 workers;
    tasks must last long enough (seconds) for process start-up not to dominate."""
    from hfpretrain.data.pipeline import DataConfig, build_stages, make_executor

    raw = Path(tempfile.mkdtemp(prefix="databench_raw_"))
    for t in range(tasks):
        with gzip.open(raw / f"part{t}.jsonl.gz", "wt", encoding="utf-8") as f:
            for d in docs[t::tasks]:
                f.write(json.dumps({"id": d.id, "text": d.text}, ensure_ascii=False) + "\n")
    seconds = {}
    for workers in (1, 2):
        out = Path(tempfile.mkdtemp(prefix=f"databench_w{workers}_"))
        config = DataConfig(
            input=[str(raw)],
            output=str(out),
            tasks=tasks,
            workers=workers,
            executor_options={"start_method": start_method},
        )
        stage = build_stages(config)[0]
        start = time.perf_counter()
        make_executor(config, stage).run()
        seconds[workers] = time.perf_counter() - start
        print(f"  first stage, {tasks} tasks, {workers} worker(s): {seconds[workers]:.1f} s", flush=True)
    return {"seconds": seconds, "speedup_2_workers": seconds[1] / seconds[2]}


def read_jsonl_gz(folder: Path) -> dict[str, dict]:
    docs = {}
    for path in sorted(folder.glob("*.jsonl.gz")) if folder.is_dir() else []:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                docs[d["id"]] = d
    return docs


def dirty_quality() -> dict:
    from hfpretrain.data.pipeline import DataConfig, run_pipeline

    files = [DATA / "ja_dirty_synthetic" / f"{s}.jsonl" for s in ("train", "valid")]
    labelled = {d["id"]: d for f in files for d in map(json.loads, f.open(encoding="utf-8"))}
    out = Path(tempfile.mkdtemp(prefix="databench_dirty_"))
    # The set's IPs are documentation addresses standing in for public ones (its README): redact all IPs here.
    config = DataConfig(
        input=[str(f) for f in files], output=str(out), tasks=2, workers=2, pii_options={"public_ips_only": False}
    )
    funnel = run_pipeline(config)
    kept = read_jsonl_gz(out / "documents")
    removed = {
        name: read_jsonl_gz(out / "removed" / name)
        for name in ("clean", "language", "quality_ja", "exact_dedup", "minhash_dedup")
    }
    result: dict = {
        "funnel": {
            k: funnel[k] for k in ("documents_in", "documents_out", "dropped", "duplicates_removed", "pii", "repaired")
        }
    }

    # Duplicates: a labelled copy counts as found when it or its original is removed by dedup (one of each pair must
    # go); a dedup removal is correct when the document belongs to a labelled pair.
    pairs = [
        (
            i,
            d["labels"].get("exact_dup_of") or d["labels"].get("near_dup_of"),
            "exact" if d["labels"].get("exact_dup_of") else "near",
        )
        for i, d in labelled.items()
        if d["labels"].get("exact_dup_of") or d["labels"].get("near_dup_of")
    ]
    dedup_removed = set(removed["exact_dedup"]) | set(removed["minhash_dedup"])
    filtered_out = set(removed["clean"]) | set(removed["language"]) | set(removed["quality_ja"])
    in_pairs = {x for a, b, _ in pairs for x in (a, b)}
    for kind in ("exact", "near"):
        relevant = [(a, b) for a, b, k in pairs if k == kind and not ({a, b} & filtered_out)]
        found = sum(1 for a, b in relevant if a in dedup_removed or b in dedup_removed)
        result[f"{kind}_duplicate_recall"] = found / max(len(relevant), 1)
        result[f"{kind}_duplicate_pairs"] = len(relevant)
    result["dedup_precision"] = len(dedup_removed & in_pairs) / max(len(dedup_removed), 1)
    result["dedup_removed"] = len(dedup_removed)

    # PII: an injected value counts as removed when it no longer appears in the kept text (or the document is gone).
    from hfpretrain.data.pii import my_number_valid

    pii_total, pii_found, missed = Counter(), Counter(), []
    for doc_id, doc in labelled.items():
        for item in doc["labels"]["pii"]:
            if doc_id not in kept or item["value"] not in doc["text"]:
                continue  # dropped document, or value not in the text (garbled by injected mojibake)
            kind = item["type"]
            if kind == "my_number_like" and not my_number_valid("".join(c for c in item["value"] if c.isdigit())):
                kind = "my_number_like (invalid check digit: must stay)"
                pii_total[kind] += 1
                pii_found[kind] += item["value"] in kept[doc_id]["text"]
                continue
            pii_total[kind] += 1
            pii_found[kind] += item["value"] not in kept[doc_id]["text"]
            if item["value"] in kept[doc_id]["text"]:
                missed.append((doc_id, kind, item["value"]))
    result["pii_recall"] = {k: pii_found[k] / pii_total[k] for k in sorted(pii_total)}
    result["pii_counts"] = dict(pii_total)
    result["pii_missed"] = missed
    clean_ids = [i for i, d in labelled.items() if not d["labels"]["noise"] and not d["labels"]["pii"]]
    result["pii_false_positive_documents"] = sum(
        1
        for i in clean_ids
        if i in kept
        and kept[i]["text"] != labelled[i]["text"]
        and "<" in kept[i]["text"]
        and any(p in kept[i]["text"] for p in ("<EMAIL>", "<PHONE>", "<IP>", "<CARD>", "<MY_NUMBER>", "<POSTAL_CODE>"))
    )

    # Clean documents wrongly dropped by the filters, and what happened to each kind of noise.
    clean_noise_free = [i for i, d in labelled.items() if not d["labels"]["noise"]]
    result["clean_wrongly_dropped"] = sum(1 for i in clean_noise_free if i in filtered_out) / len(clean_noise_free)
    noise = Counter(n for d in labelled.values() for n in d["labels"]["noise"])
    dropped = Counter(n for i, d in labelled.items() for n in d["labels"]["noise"] if i in filtered_out)
    result["noise_dropped"] = {k: f"{dropped[k]}/{noise[k]}" for k in sorted(noise)}
    return result


def english_path() -> dict:
    from hfpretrain.data.pipeline import DataConfig, run_pipeline

    files = [str(DATA / "web_dirty_trafilatura" / f"{s}.jsonl") for s in ("train", "valid")]
    out = Path(tempfile.mkdtemp(prefix="databench_en_"))
    funnel = run_pipeline(DataConfig(input=files, output=str(out), language="en", tasks=2, workers=2))
    return {k: funnel[k] for k in ("documents_in", "documents_out", "dropped", "duplicates_removed", "pii")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-mb", type=float, default=8.0, help="MB of Japanese text for the throughput runs")
    parser.add_argument("--scale-mb", type=float, default=30.0, help="MB of Japanese text for the scaling run")
    parser.add_argument(
        "--start-method",
        default="fork",
        choices=["fork", "forkserver", "spawn"],
        help="multiprocessing start method of the local executor in the scaling run",
    )
    parser.add_argument("--parts", nargs="+", default=["throughput", "scaling", "quality", "english"])
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        sys.exit(f"{DATA} not found: this benchmark needs the shared corpora (../shared/data).")
    results = {}
    docs = load_sample(args.max_mb) if "throughput" in args.parts else []
    if "throughput" in args.parts:
        print(f"1. throughput on {len(docs)} documents", flush=True)
        results["throughput"] = throughput(docs)
        print(json.dumps(results["throughput"]["summary"], indent=2))
    if "scaling" in args.parts:
        print("2. scaling", flush=True)
        results["scaling"] = scaling(load_sample(args.scale_mb), start_method=args.start_method)
        print(json.dumps(results["scaling"], indent=2))
    if "quality" in args.parts:
        print("3. quality on ja_dirty_synthetic", flush=True)
        results["quality"] = dirty_quality()
        print(json.dumps(results["quality"], indent=2, ensure_ascii=False))
    if "english" in args.parts:
        print("4. English path on web_dirty_trafilatura", flush=True)
        results["english"] = english_path()
        print(json.dumps(results["english"], indent=2, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return results


if __name__ == "__main__":
    multiprocessing.set_start_method("fork", force=True)
    main()
