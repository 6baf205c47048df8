"""Curate raw text (and write token shards): the same as `hfpretrain data run`, for recipe-style use.

python recipes/prepare_data.py --config recipes/ja-small/data.yaml
python recipes/prepare_data.py --config recipes/ja-small/data.yaml --tokenizer tok/ --workers 2
"""

import sys

from hfpretrain.cli import main

if __name__ == "__main__":
    sys.exit(main(["data", "run", *sys.argv[1:]]))
