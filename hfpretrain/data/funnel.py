"""The funnel report: documents and characters in and out of every step, drop reasons, repairs, PII kinds,
duplicates and dedup clusters, read back from the stats datatrove's executors save in `logs/<stage>/stats.json`."""

import gzip
import json
from pathlib import Path
from typing import Any


def _short(name: str) -> str:
    """'🔻 - FILTER: 🧹 Text cleaner' → 'Text cleaner'."""
    name = name.split(":", 1)[-1].strip()
    return name.split(" ", 1)[1] if name and not name[0].isascii() and " " in name else name


def _count(value) -> int:
    """A stat merged over tasks is {"total": n, "mean": ..., "unit": "task"}; a single task's is n."""
    return value.get("total", 0) if isinstance(value, dict) else value


def _step_rows(stage: str, steps: list[dict]) -> list[dict]:
    rows = []
    previous_out = previous_chars = None
    for step in steps:
        stats = {k: (v if k == "doc_len" else _count(v)) for k, v in step.get("stats", {}).items()}
        doc_len = stats.get("doc_len", {}) if isinstance(stats.get("doc_len"), dict) else {}
        is_reader = "READER" in step["name"]
        if is_reader:
            documents_out = doc_len.get("n", stats.get("documents", 0))
        elif "forwarded" in stats:
            documents_out = stats["forwarded"]
        elif "dropped" in stats:
            documents_out = stats.get("total", 0) - stats["dropped"]
        else:  # formatters and writers pass every document on
            documents_out = stats.get("total", previous_out)
        documents_in = documents_out if is_reader else stats.get("total", previous_out)
        row = {
            "stage": stage,
            "step": _short(step["name"]),
            "reader": is_reader,
            "documents_in": documents_in,
            "documents_out": documents_out if documents_out is not None else documents_in,
            "characters_in": doc_len.get("total") if is_reader else previous_chars,
            "characters_out": doc_len.get("total", previous_chars),
            "dropped": {k[len("dropped_") :]: v for k, v in stats.items() if k.startswith("dropped_")},
            "repaired": {k[len("repaired_") :]: v for k, v in stats.items() if k.startswith("repaired_")},
            "skipped": {k[len("skipped_") :]: v for k, v in stats.items() if k.startswith("skipped_")},
            "pii": {k[len("pii_") :]: v for k, v in stats.items() if k.startswith("pii_") and isinstance(v, int)},
        }
        if stats.get("dropped") and not row["dropped"]:
            # datatrove's dedup filters count drops without a reason: name it after the step
            name = step["name"].lower()
            reason = (
                "minhash_duplicate" if "minhash" in name else "exact_duplicate" if "exact" in name else "unspecified"
            )
            row["dropped"] = {reason: stats["dropped"]}
        if "tokens" in stats:
            row["tokens"] = stats["tokens"]
        rows.append(row)
        previous_out, previous_chars = row["documents_out"], row["characters_out"]
    return rows


def _examples(out: Path, report: dict, limit: int = 5) -> list[dict]:
    """Example pairs (kept document, one removed near-duplicate) for the largest clusters."""
    wanted = {c["cluster_id"] for c in report.get("largest", [])[:limit]}
    kept, removed = {}, {}
    for folder, into in ((out / "documents", kept), (out / "removed" / "minhash_dedup", removed)):
        for path in sorted(folder.glob("*.jsonl.gz")) if folder.is_dir() else []:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                for line in f:
                    doc = json.loads(line)
                    cluster = doc.get("metadata", {}).get("minhash_cluster_id", -1)
                    if cluster in wanted and cluster not in into:
                        into[cluster] = {"id": doc["id"], "text": doc["text"][:200]}
    return [{"cluster_id": c, "kept": kept.get(c), "removed": removed.get(c)} for c in sorted(wanted)]


def build_funnel(config, stage_names: list[str]) -> dict[str, Any]:
    out = Path(config.output)
    rows = []
    for stage in stage_names:
        path = out / "logs" / stage / "stats.json"
        if path.is_file():
            rows += _step_rows(stage, json.loads(path.read_text(encoding="utf-8")))
    filter_rows = [r for r in rows if r["stage"] == "filter"]
    final_stage = "dedup" if any(r["stage"] == "dedup" for r in rows) else "exact-filter"
    dedup_rows = [r for r in rows if r["stage"] == final_stage]
    funnel: dict[str, Any] = {
        "language": config.language,
        "documents_in": sum(r["documents_out"] or 0 for r in filter_rows if r["reader"]),
        "characters_in": sum(r["characters_out"] or 0 for r in filter_rows if r["reader"]),
        "documents_out": (dedup_rows[-1]["documents_out"] or 0) if dedup_rows else 0,
        "characters_out": (dedup_rows[-1]["characters_out"] or 0) if dedup_rows else 0,
        "dropped": {},
        "repaired": {},
        "skipped_input": {},
        "pii": {},
        "duplicates_removed": {},
        "steps": rows,
    }
    for r in rows:
        if r["stage"] == "exact-filter" and "exact" in r["step"].lower():
            funnel["duplicates_removed"]["exact"] = sum(r["dropped"].values())
        elif r["stage"] == "dedup" and "minhash" in r["step"].lower():
            funnel["duplicates_removed"]["minhash"] = sum(r["dropped"].values())
        elif r["stage"] == "filter":
            for reason, n in r["dropped"].items():
                funnel["dropped"][reason] = funnel["dropped"].get(reason, 0) + n
        for key, target in (("repaired", "repaired"), ("skipped", "skipped_input"), ("pii", "pii")):
            if r["stage"] == "filter":
                for reason, n in r[key].items():
                    funnel[target][reason] = funnel[target].get(reason, 0) + n
    report_path = out / "work" / "minhash_clusters" / "clusters.json"
    if report_path.is_file():
        report = json.loads(report_path.read_text())
        report["examples"] = _examples(out, report)
        funnel["dedup_clusters"] = report
    tokens = {
        r["stage"].split("-", 1)[1]: {"documents": r["documents_in"], "tokens": r.get("tokens")}
        for r in rows
        if r["stage"].startswith("tokens-") and "tokens" in r
    }
    if tokens:
        funnel["tokens"] = tokens
    return funnel


def format_funnel(funnel: dict[str, Any]) -> str:
    lines = [f"{'stage/step':<40}{'docs in':>10}{'docs out':>10}{'chars out':>14}  notes"]
    for r in funnel["steps"]:
        notes = ", ".join(f"{k} {v:,}" for k, v in sorted(r["dropped"].items()) if k != "other_split")
        notes += (
            (" | repaired " + ", ".join(f"{k} {v:,}" for k, v in sorted(r["repaired"].items())))
            if r["repaired"]
            else ""
        )
        notes += (
            (" | skipped " + ", ".join(f"{k} {v:,}" for k, v in sorted(r["skipped"].items()))) if r["skipped"] else ""
        )
        notes += (" | pii " + ", ".join(f"{k} {v:,}" for k, v in sorted(r["pii"].items()))) if r["pii"] else ""
        notes += f" | {r['tokens']:,} tokens" if r.get("tokens") else ""

        def fmt(x):
            return f"{x:,}" if isinstance(x, int) else "-"

        lines.append(
            f"{(r['stage'] + '/' + r['step'])[:39]:<40}{fmt(r['documents_in']):>10}{fmt(r['documents_out']):>10}"
            f"{fmt(r['characters_out']):>14}  {notes}"
        )
    lines.append(
        f"documents: {funnel['documents_in']:,} in → {funnel['documents_out'] or 0:,} out; "
        f"duplicates removed: {funnel['duplicates_removed'] or 'none'}; PII: {funnel['pii'] or 'none'}"
    )
    return "\n".join(lines)
