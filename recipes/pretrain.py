"""Pretrain a GPT: `accelerate launch recipes/pretrain.py --config recipes/<name>/pretrain.yaml [flags]`.

Also runs as `python recipes/pretrain.py ...` (one process). Every setting of the YAML file can be overridden by a
flag of the same name (`--max_steps 100 --output_dir runs/x --resume auto --seed 1`); `--help` lists them.
"""

from hfpretrain.training import main

if __name__ == "__main__":
    main()
