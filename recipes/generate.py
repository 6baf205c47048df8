"""Generate text: the same as `hfpretrain generate`, for recipe-style use.

python recipes/generate.py runs/ja-small/final --prompt 吾輩は --compare
python recipes/generate.py runs/ja-small/final --prompt 吾輩は --mode top_p --stream --probabilities
"""

import sys

from hfpretrain.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
