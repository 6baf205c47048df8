"""Token shards: the train/valid split and the packed dataset's deterministic order and exact resume."""

import numpy as np
import pytest

from hfpretrain.data.shards import PackedTokenDataset, split_of


def write_shards(folder, sizes, dtype=np.uint16):
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for i, size in enumerate(sizes):
        np.arange(start, start + size, dtype=dtype).tofile(folder / f"{i:05d}_shard.ds")
        (folder / f"{i:05d}_shard.ds.metadata").write_text(f"tok|{np.dtype(dtype).itemsize}\n{size}\n")
        start += size
    return start


def take(dataset, n):
    out = []
    for item in dataset:
        out.append(item["input_ids"].tolist())
        if len(out) == n:
            break
    return out


def test_sequences_cross_shard_boundaries_and_cover_the_stream(tmp_path):
    total = write_shards(tmp_path, [50, 7, 60])
    dataset = PackedTokenDataset(tmp_path, seq_len=10, shuffle=False)
    assert dataset.num_tokens == total and dataset.num_sequences == (total - 1) // 10
    seqs = take(dataset, dataset.num_sequences)
    assert seqs[0] == list(range(0, 11)) and seqs[5] == list(range(50, 61))  # crosses the 50|57 boundary
    assert all(len(s) == 11 for s in seqs)


def test_uint32_shards(tmp_path):
    write_shards(tmp_path, [100], dtype=np.uint32)
    dataset = PackedTokenDataset(tmp_path, seq_len=9, shuffle=False)
    assert take(dataset, 1)[0] == list(range(10))


def test_order_depends_on_seed_and_epoch_only(tmp_path):
    write_shards(tmp_path, [500])
    a = PackedTokenDataset(tmp_path, seq_len=8, seed=3)
    b = PackedTokenDataset(tmp_path, seq_len=8, seed=3)
    assert np.array_equal(a.order(0), b.order(0)) and not np.array_equal(a.order(0), a.order(1))
    assert not np.array_equal(a.order(0), PackedTokenDataset(tmp_path, seq_len=8, seed=4).order(0))
    # Epochs roll over: after one epoch the next permutation starts.
    n = a.num_sequences
    seqs = take(a, n + 3)
    assert seqs[n:] == [a.sequence(int(i)).tolist() for i in a.order(1)[:3]]


@pytest.mark.parametrize("world_before, world_after", [(1, 1), (2, 2), (2, 1), (1, 3)])
def test_exact_resume_across_rank_counts(tmp_path, world_before, world_after):
    write_shards(tmp_path, [300, 300])
    reference = take(PackedTokenDataset(tmp_path, seq_len=7, seed=1), 40)

    # Run `world_before` ranks in lockstep for 12 rows, checkpoint rank 0's state.
    ranks = [
        PackedTokenDataset(tmp_path, seq_len=7, seed=1, rank=r, world_size=world_before) for r in range(world_before)
    ]
    iters = [iter(d) for d in ranks]
    consumed = []
    for _ in range(12 // world_before):
        for it in iters:
            consumed.append(next(it)["input_ids"].tolist())
    state = ranks[0].state_dict()
    assert state["position"] == len(consumed)

    resumed = [
        PackedTokenDataset(tmp_path, seq_len=7, seed=1, rank=r, world_size=world_after) for r in range(world_after)
    ]
    for d in resumed:
        d.load_state_dict(state)
    iters = [iter(d) for d in resumed]
    for _ in range(3):
        for it in iters:
            consumed.append(next(it)["input_ids"].tolist())
    assert consumed == reference[: len(consumed)]


def test_resume_refuses_changed_data(tmp_path):
    write_shards(tmp_path / "a", [100])
    write_shards(tmp_path / "b", [120])
    state = PackedTokenDataset(tmp_path / "a", seq_len=5).state_dict()
    with pytest.raises(ValueError, match="num_tokens"):
        PackedTokenDataset(tmp_path / "b", seq_len=5).load_state_dict(state)
    with pytest.raises(ValueError, match="seq_len"):
        PackedTokenDataset(tmp_path / "a", seq_len=6).load_state_dict(state)


def test_split_is_stable_and_proportional():
    splits = [split_of(f"doc-{i}", 0.1) for i in range(5000)]
    assert 0.08 < splits.count("valid") / 5000 < 0.12
    assert splits == [split_of(f"doc-{i}", 0.1) for i in range(5000)]


def test_missing_shards_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="hfpretrain data run --tokenizer"):
        PackedTokenDataset(tmp_path, seq_len=8)


def test_write_shard_round_trips(tmp_path):
    from hfpretrain.data.shards import write_shard

    docs = [[1, 2, 3], [70000, 5]]
    assert write_shard(tmp_path / "x.ds", docs, "tok", vocab_size=80000) == 5
    dataset = PackedTokenDataset(tmp_path, seq_len=4, shuffle=False)
    assert dataset.tokens(0, 5).tolist() == [1, 2, 3, 70000, 5]
    assert np.fromfile(tmp_path / "x.ds.index", dtype=np.uint64).tolist() == [3, 5]


def test_empty_shards_left_by_idle_tasks_are_ignored(tmp_path):
    total = write_shards(tmp_path, [30, 0, 12])  # a datatrove task with no documents writes an empty .ds
    dataset = PackedTokenDataset(tmp_path, seq_len=5, shuffle=False)
    assert len(dataset.files) == 2 and dataset.num_tokens == total
    assert take(dataset, 1)[0] == list(range(6))
    for f in list(tmp_path.glob("*.ds")):
        f.write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="No token shards"):
        PackedTokenDataset(tmp_path, seq_len=5)
