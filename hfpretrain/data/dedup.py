"""Deduplication on datatrove's multi-stage machinery, with two of our own pieces.

Exact duplicates: datatrove's ExactDedup stages over a normalized text (NFC, whitespace collapsed). MinHash near
duplicates: datatrove's signatures → buckets → (our) clusters → filter, on character n-grams for Japanese (no spaces
to split words on) and word n-grams for English.

Our pieces:
- `ExactDedupSignatureTee` computes the exact signatures while passing the documents on, so exact and MinHash
  signatures come from one read of the data (datatrove's step consumes the stream).
- `OrderedMinhashCluster` replaces datatrove's clustering so that the document kept from each cluster is chosen by a
  rule — the first one in input order (lowest task, then lowest index) — rather than by union-find internals, and
  writes a cluster report (sizes, members) that `funnel.py` turns into example pairs.
"""

import json
import struct
import unicodedata
from collections import defaultdict

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig, ExactDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.utils.binaryio import read_tuples_from_file
from datatrove.utils.text import TextNormConfig
from datatrove.utils.typeshelper import StatHints
from datatrove.utils.word_tokenizers import WordTokenizer

SENTINEL = (1 << 32) - 1


def normalized_text(doc: Document) -> str:
    """What exact dedup hashes: NFC, every whitespace run one space, stripped."""
    return " ".join(unicodedata.normalize("NFC", doc.text).split())


def exact_dedup_config() -> ExactDedupConfig:
    return ExactDedupConfig(content_getter=normalized_text)


class CharacterTokenizer(WordTokenizer):
    """'Words' for MinHash on Japanese: the non-space characters, so that n-grams are character n-grams."""

    def __init__(self):
        super().__init__(language="ja")

    def word_tokenize(self, text: str) -> list[str]:
        return [c for c in text if not c.isspace()]

    def sent_tokenize(self, text: str) -> list[str]:
        return [line for line in text.split("\n") if line.strip()]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(i, i + 1) for i, c in enumerate(text) if not c.isspace()]


def minhash_config(
    language: str, n_grams: int | None = None, num_buckets: int = 14, hashes_per_bucket: int = 8, seed: int = 1
) -> MinhashConfig:
    """14 buckets × 8 hashes (datatrove's and FineWeb's default): a pair with Jaccard similarity 0.85 is caught with
    probability 1 − (1 − 0.85⁸)¹⁴ ≈ 0.99, one at 0.5 with ≈ 0.05. Japanese: character 5-grams with dakuten kept
    (folding diacritics would merge が and か); English: word 5-grams (FineWeb)."""
    norm = TextNormConfig(norm_unicode_diacritics=language != "ja")
    return MinhashConfig(
        n_grams=n_grams or 5, num_buckets=num_buckets, hashes_per_bucket=hashes_per_bucket, seed=seed, norm_config=norm
    )


class ExactDedupSignatureTee(ExactDedupSignature):
    """datatrove's exact-dedup signature step, yielding each document on so the next step sees the same stream."""

    name = "💥 exact-dedup signatures (tee)"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        signatures = []
        for doc_idx, doc in enumerate(data):
            with self.stats.time_stats:
                self.stat_update(StatHints.total)
                signatures.extend(self.get_hashes(doc, doc_idx))
            yield doc
        self.save_hashes(rank, signatures)


class OrderedMinhashCluster(PipelineStep):
    """Third MinHash stage: union the candidate pairs found in the buckets into clusters; keep each cluster's first
    document in input order, mark the others for removal (`.remove` files) and record cluster ids (`.clusters`)
    and a report (`clusters.json`).

    With `signatures_folder` and `min_similarity`, every candidate pair is first verified: the share of equal values
    over the whole signature (all bands) estimates the pair's Jaccard similarity, and pairs below `min_similarity`
    are not joined. This lets the banding be permissive (high recall) without the false positives of a single
    shared band."""

    type = "🫂 - DEDUP"
    name = "🔗 MinHash clusters (verified, first kept)"

    def __init__(
        self,
        input_folder,
        output_folder,
        config: MinhashConfig,
        signatures_folder=None,
        min_similarity: float | None = None,
        report_examples: int = 20,
    ):
        super().__init__()
        self.input_folder = get_datafolder(input_folder)
        self.output_folder = get_datafolder(output_folder)
        self.signatures_folder = get_datafolder(signatures_folder) if signatures_folder else None
        self.config = config
        self.min_similarity = min_similarity
        self.report_examples = report_examples

    def _candidate_pairs(self) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        pairs = []
        for dup_file in self.input_folder.list_files(glob_pattern="*.dups"):
            with self.input_folder.open(dup_file, "rb") as f:
                for f1, d1, f2, d2 in read_tuples_from_file(f, "4I"):
                    if f1 != SENTINEL:  # matches against an index are not used here
                        pairs.append(((f1, d1), (f2, d2)))
        return pairs

    def _signatures(self, nodes: set[tuple[int, int]]) -> dict[tuple[int, int], np.ndarray]:
        """The full signature (every band) of each document in `nodes`, read from the stage-1 signature files."""
        dtype = np.dtype(
            [("hashes", self.config.hash_config.np_dtype, (self.config.hashes_per_bucket,)), ("doc", "<u4")]
        )
        signatures: dict[tuple[int, int], np.ndarray] = {}
        for bucket in range(self.config.num_buckets):
            files = self.signatures_folder.list_files(subdirectory=f"bucket_{bucket:03d}")
            for file_index, path in enumerate(files):  # the buckets stage numbers files the same way
                wanted = np.array(sorted(d for f, d in nodes if f == file_index), dtype=np.uint32)
                if not len(wanted):
                    continue
                with self.signatures_folder.open(path, "rb") as f:
                    records = np.frombuffer(f.read(), dtype=dtype)
                for record in records[np.isin(records["doc"], wanted)]:
                    key = (file_index, int(record["doc"]))
                    if key not in signatures:
                        signatures[key] = np.zeros(
                            (self.config.num_buckets, self.config.hashes_per_bucket),
                            dtype=self.config.hash_config.np_dtype,
                        )
                    signatures[key][bucket] = record["hashes"]
        return signatures

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if world_size != 1:
            raise ValueError("clustering runs as a single task")
        parent: dict[tuple[int, int], tuple[int, int]] = {}

        def find(x):
            root = x
            while parent.get(root, root) != root:
                root = parent[root]
            while parent.get(x, x) != root:  # path compression
                parent[x], x = root, parent[x]
            return root

        with self.track_time():
            pairs = self._candidate_pairs()
            self.stat_update("candidate_pairs", value=len(pairs))
            if self.signatures_folder is not None and self.min_similarity is not None and pairs:
                signatures = self._signatures({node for pair in pairs for node in pair})
                verified = []
                for a, b in pairs:
                    if a in signatures and b in signatures:
                        similarity = float(np.mean(signatures[a] == signatures[b]))
                        if similarity >= self.min_similarity:
                            verified.append((a, b))
                            continue
                    self.stat_update("rejected_pairs")
                pairs = verified
            for a, b in pairs:
                a, b = find(a), find(b)
                if a != b:  # the smaller (file, doc) becomes the root: the first document is kept
                    a, b = min(a, b), max(a, b)
                    parent[b] = a
                    parent.setdefault(a, a)
            clusters: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
            for node in parent:
                clusters[find(node)].append(node)
            removals: dict[int, list[int]] = defaultdict(list)
            assignments: dict[int, list[tuple[int, int]]] = defaultdict(list)
            ordered = sorted(clusters.items())
            for cluster_id, (root, members) in enumerate(ordered):
                for file, doc in members:
                    assignments[file].append((doc, cluster_id))
                    if (file, doc) != root:
                        removals[file].append(doc)
                self.stat_update("clusters")
                self.stat_update("cluster_size", value=len(members), unit="cluster")
            for file in sorted(set(removals) | set(assignments)):
                with self.output_folder.open(f"{file:06d}.remove", "wb") as f:
                    for doc in sorted(removals[file]):
                        f.write(struct.pack("<I", doc))
                        self.stat_update("to_remove")
                with self.output_folder.open(f"{file:06d}.clusters", "wb") as f:
                    for doc, cluster_id in sorted(assignments[file]):
                        f.write(struct.pack("<I", doc))
                        f.write(struct.pack("<I", cluster_id))
            sizes = sorted((len(m) for _, m in ordered), reverse=True)
            report = {
                "clusters": len(ordered),
                "documents_in_clusters": sum(sizes),
                "documents_removed": sum(sizes) - len(sizes),
                "size_histogram": {str(s): sizes.count(s) for s in sorted(set(sizes))},
                "largest": [
                    {"cluster_id": cid, "size": len(members), "kept": list(root), "members": sorted(members)[:10]}
                    for cid, (root, members) in sorted(enumerate(ordered), key=lambda x: -len(x[1][1]))[
                        : self.report_examples
                    ]
                ],
            }
            with self.output_folder.open("clusters.json", "w") as f:
                f.write(json.dumps(report, indent=2))
