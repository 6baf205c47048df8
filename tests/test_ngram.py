"""n-gram baselines: probabilities computed by hand from the formulas, normalization, a known Markov chain, totals."""

import itertools
import logging
import math
import random

import pytest

from hfpretrain.evaluation.ngram import (
    FALLBACK_DISCOUNTS,
    NGramModel,
    UniformModel,
    UnigramModel,
    char_vocab_size,
    chars_to_ids,
    kneser_ney_discounts,
    ngram_baselines,
    perplexity,
)

# Three sentences over the symbols 0..3 (V = 4); symbol 3 never occurs in training.
CORPUS = [[0, 1, 2], [0, 1, 1], [1, 2, 0]]
V = 4


def test_unigram_add_one_by_hand():
    # c(0) = 3, c(1) = 4, c(2) = 2, c(3) = 0, N = 9: p(w) = (c(w) + 1) / (9 + 4)
    model = UnigramModel(V).fit(CORPUS)
    assert [model.probability([], w) for w in range(V)] == pytest.approx([4 / 13, 5 / 13, 3 / 13, 1 / 13])
    assert UnigramModel(V, k=0.5).fit(CORPUS).probability([], 3) == pytest.approx(0.5 / (9 + 0.5 * 4))


def test_uniform():
    model = UniformModel(V).fit(CORPUS)
    assert model.probability([0], 1) == 0.25
    assert model.score(CORPUS) == (pytest.approx(9 * math.log(4)), 9)


def test_bigram_interpolated_kneser_ney_by_hand():
    model = NGramModel(2, V, discount=0.75).fit(CORPUS)
    d = 0.75
    # Bigrams (BOS = start): (BOS 0) ×2, (0 1) ×2, (1 2) ×2, (BOS 1), (1 1), (2 0).
    # Unigram continuation counts N1+(•w), distinct left neighbours: 0 ← {BOS, 2}: 2; 1 ← {BOS, 0, 1}: 3;
    # 2 ← {1}: 1; 3: 0. Total 6, three symbols seen, so γ() = 0.75 · 3 / 6, and p_1(w) = (N1+(•w) − D)⁺/6 + γ()/4.
    gamma_1 = d * 3 / 6
    p1 = [(2 - d) / 6 + gamma_1 / 4, (3 - d) / 6 + gamma_1 / 4, (1 - d) / 6 + gamma_1 / 4, gamma_1 / 4]
    assert model.counts[1] == {(0,): 2, (1,): 3, (2,): 1}
    # After 1: c(1 2) = 2, c(1 1) = 1, total 3, two distinct followers: γ(1) = 0.75 · 2 / 3 = 0.5.
    gamma_after_1 = d * 2 / 3
    assert model.probability([1], 2) == pytest.approx((2 - d) / 3 + gamma_after_1 * p1[2])  # 0.484375
    assert model.probability([0, 1], 1) == pytest.approx((1 - d) / 3 + gamma_after_1 * p1[1])
    # The unseen bigram (1 0) gets only the backed-off mass: γ(1) · p_1(0); the unseen symbol 3 likewise.
    assert model.probability([1], 0) == pytest.approx(gamma_after_1 * p1[0])  # 0.15104…
    assert model.probability([1], 3) == pytest.approx(gamma_after_1 * p1[3])
    # At the start of a sequence the history is BOS: c(BOS 0) = 2, c(BOS 1) = 1, γ(BOS) = 0.75 · 2 / 3.
    assert model.probability([], 0) == pytest.approx((2 - d) / 3 + (d * 2 / 3) * p1[0])
    # A history never seen (3, or an unknown symbol) falls through to the unigram level.
    assert [model.probability([3], w) for w in range(V)] == pytest.approx(p1)
    assert model.probability([0, 7], 1) == pytest.approx(p1[1])
    assert p1 == pytest.approx([0.3020833333, 0.46875, 0.1354166667, 0.09375])


def test_trigram_backs_off_through_the_bigram_by_hand():
    model = NGramModel(3, V, discount=0.75).fit(CORPUS)
    d = 0.75
    # In a trigram model the bigram level holds continuation counts, except for bigrams that start with BOS:
    # (0 1) ← {BOS}: 1, (1 2) ← {0, BOS}: 2, (1 1) ← {0}: 1, (2 0) ← {1}: 1, (BOS 0): 2, (BOS 1): 1 (raw).
    assert model.counts[2] == {(-1, 0): 2, (0, 1): 1, (1, 2): 2, (1, 1): 1, (-1, 1): 1, (2, 0): 1}
    p1_2 = (1 - d) / 6 + (d * 3 / 6) / 4  # unigram level, as in the bigram test
    p2_2_after_1 = (2 - d) / 3 + (d * 2 / 3) * p1_2  # after 1: (1 2): 2, (1 1): 1
    # After (0 1): trigrams (0 1 2) and (0 1 1) once each, total 2, γ = 0.75 · 2 / 2.
    assert model.probability([0, 1], 2) == pytest.approx((1 - d) / 2 + (d * 2 / 2) * p2_2_after_1)  # 0.48828125
    # The history (2 1) was never seen: the trigram level passes the bigram's p(2 | 1) through unchanged.
    assert model.probability([2, 1], 2) == pytest.approx(p2_2_after_1)


def test_bigram_modified_kneser_ney_by_hand(caplog):
    with caplog.at_level(logging.WARNING):
        model = NGramModel(2, V).fit(CORPUS)
    # Bigram count-of-counts n1 = 3, n2 = 3 (none ≥ 3): Y = 3 / 9, D1 = 1 − 2Y·3/3 = 1/3, D2 = 2 − 3Y·0/3 = 2;
    # D3+ is never used, so it is the fallback, without a warning.
    assert model.discounts[2] == pytest.approx((1 / 3, 2.0, FALLBACK_DISCOUNTS[2]))
    # Continuation counts 2, 3, 1: n1 = n2 = n3 = 1, n4 = 0: Y = 1/3, D1 = 1/3, D2 = 2 − 3Y = 1, D3+ = 3 − 0 = 3.
    assert model.discounts[1] == pytest.approx((1 / 3, 1.0, 3.0))
    assert not caplog.records
    gamma_1 = (1 / 3 + 1 + 3) / 6  # (D1·N1 + D2·N2 + D3+·N3+) / total
    p1 = [(2 - 1) / 6 + gamma_1 / 4, (3 - 3) / 6 + gamma_1 / 4, (1 - 1 / 3) / 6 + gamma_1 / 4, gamma_1 / 4]
    assert p1 == pytest.approx([25 / 72, 13 / 72, 21 / 72, 13 / 72])
    # After 1: (1 2) ×2 discounted by D2 = 2, (1 1) ×1 by D1 = 1/3; γ(1) = (1/3 + 2) / 3 = 7/9.
    expected = [7 / 9 * p1[0], (1 - 1 / 3) / 3 + 7 / 9 * p1[1], (2 - 2) / 3 + 7 / 9 * p1[2], 7 / 9 * p1[3]]
    assert [model.probability([1], w) for w in range(V)] == pytest.approx(expected)


def test_discount_estimates_and_fallbacks(caplog):
    # n1..n4 = 10, 4, 2, 1: Y = 10/18, D1 = 1 − 2Y·4/10 = 5/9, D2 = 2 − 3Y·2/4 = 7/6, D3+ = 3 − 4Y·1/2 = 17/9
    assert kneser_ney_discounts({1: 10, 2: 4, 3: 2, 4: 1, 9: 5}) == pytest.approx((5 / 9, 7 / 6, 17 / 9))
    # No doubletons: D1 = Y = 1, D2 divides by n2 = 0, D3+ = 3 − 4·1·1/1 < 0: both fall back, loudly.
    with caplog.at_level(logging.WARNING):
        assert kneser_ney_discounts({1: 5, 3: 1, 4: 1}) == (1.0, FALLBACK_DISCOUNTS[1], FALLBACK_DISCOUNTS[2])
    assert len(caplog.records) == 2


def _random_corpus(seed: int, n_sequences: int = 30) -> list[list[int]]:
    """Sequences of 0–20 symbols over 0..4, skewed so that counts of 1, 2, 3 and 4 all occur."""
    rng = random.Random(seed)
    return [rng.choices(range(5), weights=[5, 3, 2, 1, 1], k=rng.randint(0, 20)) for _ in range(n_sequences)]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("discount", [None, 0.75])
def test_probabilities_sum_to_one(order, discount):
    vocab_size = 7  # symbols 0..4 seen; 5 and 6 never
    train = _random_corpus(0)
    model = NGramModel(order, vocab_size, discount=discount).fit(train)
    seen_contexts = [seq[:i] for seq in train[:5] for i in range(len(seq) + 1)]
    unseen_contexts = [[4, 4, 4, 4, 4], [5], [6, 5], [0, 6], [3] * 10]
    for context in seen_contexts + unseen_contexts:
        total = sum(model.probability(context, w) for w in range(vocab_size))
        assert abs(total - 1) < 1e-9, (context, total)
        assert min(model.probability(context, w) for w in range(vocab_size)) > 0


def test_unigram_probabilities_sum_to_one():
    model = UnigramModel(7, k=0.1).fit(_random_corpus(0))
    assert sum(model.probability([], w) for w in range(7)) == pytest.approx(1, abs=1e-12)


@pytest.mark.parametrize("order", [1, 2, 4])
def test_score_is_the_sum_of_log_probabilities(order):
    model = NGramModel(order, 7).fit(_random_corpus(0))
    held_out = [*_random_corpus(1, n_sequences=5), [5, 6, 0]]
    nll, n = model.score(held_out)
    by_hand = -sum(math.log(model.probability(seq[:i], seq[i])) for seq in held_out for i in range(len(seq)))
    assert n == sum(map(len, held_out))
    assert nll == pytest.approx(by_hand, rel=1e-12)


@pytest.mark.parametrize(
    "model", [UniformModel(7), UnigramModel(7), NGramModel(3, 7)], ids=["uniform", "unigram", "3-gram"]
)
def test_score_totals_add_up_and_empty_sequences_score_nothing(model):
    model.fit(_random_corpus(0))
    a, b = [0, 1, 2, 3, 4], [4, 4, 0, 5]
    nll_a, n_a = model.score([a])
    nll_b, n_b = model.score([b])
    nll_ab, n_ab = model.score([a, [], b])
    # No end-of-sequence symbol is predicted: each sequence contributes exactly its own symbols.
    assert (n_a, n_b, n_ab) == (5, 4, 9)
    assert nll_ab == pytest.approx(nll_a + nll_b, rel=1e-12)
    assert model.score([[]]) == (0.0, 0)
    assert model.score([]) == (0.0, 0)


def _markov_chain_data(seed: int):
    """Sequences from a fixed 4-state Markov chain started in its stationary distribution."""
    transitions = [
        [0.7, 0.1, 0.1, 0.1],
        [0.1, 0.1, 0.7, 0.1],
        [0.2, 0.2, 0.2, 0.4],
        [0.5, 0.3, 0.1, 0.1],
    ]
    stationary = [1.0, 0.0, 0.0, 0.0]
    for _ in range(200):  # power iteration; the chain mixes in a few steps
        stationary = [sum(stationary[i] * transitions[i][j] for i in range(4)) for j in range(4)]
    rng = random.Random(seed)

    def sample(n_sequences, length):
        sequences = []
        for _ in range(n_sequences):
            state = rng.choices(range(4), weights=stationary)[0]
            sequence = [state]
            for _ in range(length - 1):
                state = rng.choices(range(4), weights=transitions[state])[0]
                sequence.append(state)
            sequences.append(sequence)
        return sequences

    return transitions, stationary, sample(20, 1000), sample(5, 1000)


def test_ladder_on_a_known_markov_chain():
    transitions, stationary, train, held_out = _markov_chain_data(seed=1)
    entropy_rate = -sum(pi * sum(p * math.log(p) for p in row) for pi, row in zip(stationary, transitions, strict=True))
    # The true model's loss on this very held-out sample: the floor any model can reach here, up to chance.
    true_nll = -sum(
        math.log(stationary[seq[0]]) + sum(math.log(transitions[a][b]) for a, b in itertools.pairwise(seq))
        for seq in held_out
    ) / sum(map(len, held_out))

    results = ngram_baselines(train, held_out, vocab_size=4, orders=(2, 3))
    loss = {name: r["nats_per_symbol"] for name, r in results.items()}
    assert list(loss) == ["uniform", "unigram", "bigram", "3-gram"]
    assert results["bigram"]["n_symbols"] == 5000
    assert results["bigram"]["nll_nats"] == pytest.approx(loss["bigram"] * 5000)
    assert loss["uniform"] == pytest.approx(math.log(4))
    assert loss["uniform"] > loss["unigram"] + 0.05 > loss["bigram"] + 0.1
    # A second-order model of a first-order chain only pays for its extra parameters (~0.001 nats here).
    assert loss["3-gram"] <= loss["bigram"] + 0.005
    # The bigram is the right model class: its loss reaches the true model's, and so the entropy rate (1.062
    # nats) up to the sampling noise of 5,000 held-out symbols (standard error ≈ 0.01 nats).
    assert abs(loss["bigram"] - true_nll) < 0.005
    assert abs(loss["bigram"] - entropy_rate) < 0.03
    assert perplexity(results["bigram"]["nll_nats"], 5000) == pytest.approx(math.exp(loss["bigram"]))


def test_characters_with_an_unseen_character():
    train_texts = ["すもももももももものうち", "もももすももももものうち"]
    vocab_size = char_vocab_size(train_texts)
    assert vocab_size == len(set("すものうち")) + 1  # the distinct characters and one shared unseen slot
    assert chars_to_ids("日本a") == [0x65E5, 0x672C, 0x61]
    model = NGramModel(3, vocab_size).fit([chars_to_ids(t) for t in train_texts])
    nll, n = model.score([chars_to_ids("すもも犬")])
    assert n == 4 and math.isfinite(nll)
    # Every unseen character costs one slot of the unseen mass: the same probability for any of them.
    assert model.probability(chars_to_ids("すもも"), ord("犬")) == model.probability(chars_to_ids("すもも"), ord("猫"))


def test_invalid_inputs_fail_loudly():
    with pytest.raises(ValueError, match="vocab_size"):
        NGramModel(2, 2).fit(CORPUS)  # three distinct symbols do not fit a vocabulary of 2
    with pytest.raises(ValueError, match=">= 0"):
        NGramModel(2, V).fit([[0, -1, 2]])  # -1 is the begin-of-sequence context
    with pytest.raises(ValueError, match="discount"):
        NGramModel(2, V, discount=1.5)
    with pytest.raises(ValueError, match="at least one"):
        perplexity(0.0, 0)
