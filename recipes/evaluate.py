"""Evaluate a causal LM: the same as `hfpretrain eval`, for recipe-style use.

python recipes/evaluate.py runs/ja-small/final --input ../shared/data/ja_wikipedia_kwc/valid.jsonl --baselines --json
python recipes/evaluate.py runs/ja-small/final --task jcommonsenseqa --input V.jsonl --fewshot-from T.jsonl --shots 3
"""

import sys

from hfpretrain.cli import main

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))
