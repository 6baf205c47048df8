"""Train a tokenizer: the same as `hfpretrain tokenizer train`, for recipe-style use.

python recipes/train_tokenizer.py --config recipes/ja-small/tokenizer.yaml --input out/ja-small --output tok/
"""

import sys

from hfpretrain.cli import main

if __name__ == "__main__":
    sys.exit(main(["tokenizer", "train", *sys.argv[1:]]))
