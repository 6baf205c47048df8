"""Count-based language models: the baselines a neural model has to beat before it is interesting — the first
rungs of the ladder uniform → unigram → bigram → n-gram → MLP → RNN → attention → GPT.

Every model reads sequences of integer symbols — token ids, or Unicode code points for characters
(`chars_to_ids`), the same code — is fitted on training sequences with `fit`, and `score(sequences)` returns
`(total negative log-likelihood in nats, number of predicted symbols)`. Divide for the loss per symbol; divide by
ln 2 and by the characters (or UTF-8 bytes) of the text for bits per character (byte). `probability(context,
symbol)` is p(symbol | the symbols of the same sequence before it).

Notable choices:
- Documents are scored independently. The context at a sequence's start is one begin-of-sequence symbol
  `BOS = -1`, outside every vocabulary (one `<s>`, as in SRILM and KenLM); symbols must be non-negative ints.
- Every symbol of a sequence is predicted, and nothing else: there is no implicit end-of-sequence symbol. An empty
  sequence scores (0.0, 0), and the count is the total length — the same targets as `metrics.py` scores for a GPT
  (a document after the end-of-text separator, the end-of-text after it not scored). A caller that wants the end
  predicted appends its tokenizer's end-of-text id to every sequence, in training and evaluation alike.
- `vocab_size` V is the number of symbols the distribution is over; every model gives each of them non-zero
  probability and the V probabilities sum to 1. Symbols need not be < V (code points are not): training may hold
  at most V distinct symbols, and the V − (distinct training symbols) slots left stand for all others, each unseen
  symbol being charged one slot. With token ids in range(V) this is exact. For characters, `char_vocab_size` gives
  the distinct training characters + 1: one shared `<unk>` slot, so a held-out text with several different unseen
  characters is charged less than an exact model would charge (each is priced as "some unseen character"), as in
  any character model with an unknown symbol.

Smoothing of `NGramModel`: interpolated modified Kneser–Ney (Kneser & Ney 1995, "Improved backing-off for M-gram
language modeling"; Chen & Goodman 1998, "An Empirical Study of Smoothing Techniques for Language Modeling",
Harvard TR-10-98, §2.7 for Kneser–Ney and §3 for the modified variant), with the adjusted counts and per-order
discounts of KenLM (Heafield, Pouzyrevsky, Clark & Koehn 2013, "Scalable Modified Kneser-Ney Language Model
Estimation", §3). For an n-gram model, a history h of k−1 symbols, and h' = h without its oldest symbol:

    p_0(w)     = 1 / V
    p_k(w | h) = (c_k(hw) − D_k(c_k(hw))) / c_k(h•)  +  γ_k(h) · p_{k−1}(w | h')          (C&G §3, p_MKN)
    γ_k(h)     = (D_k1 · N_1(h•) + D_k2 · N_2(h•) + D_k3+ · N_3+(h•)) / c_k(h•)          (C&G §3, γ)
    D_k(c)     = 0 if c = 0, D_k1 if c = 1, D_k2 if c = 2, D_k3+ if c ≥ 3
    p_k(w | h) = p_{k−1}(w | h')   when h was never seen as a history at order k (c_k(h•) = 0)

where c_k(h•) = Σ_w c_k(hw) and N_r(h•) is the number of symbols w with c_k(hw) = r (N_3+: ≥ 3). The counts c_k
are KenLM's adjusted counts: raw counts at the top order k = n and for k-grams that begin with BOS (nothing can
precede them); otherwise the continuation count N_1+(•g), the number of distinct symbols seen right before g — the
Kneser–Ney idea: a lower order is only consulted when the longer history was rare, so it should predict symbols
that follow many different histories, not symbols that are merely frequent (C&G §2.7). Discounts are estimated
per order from the count-of-counts n_r (the number of order-k n-grams with adjusted count r):

    Y = n1 / (n1 + 2·n2),  D1 = 1 − 2Y·n2/n1,  D2 = 2 − 3Y·n3/n2,  D3+ = 3 − 4Y·n4/n3             (C&G §3)

(Y alone is the single discount of plain interpolated Kneser–Ney, Ney, Essen & Kneser 1994.) Each D_r must lie in
(0, r]: above r a probability would go negative, and at 0 the lower orders would get no mass (an unseen symbol
would cost infinitely much); an estimate that is out of range or has a zero denominator — small or synthetic data —
is replaced by KenLM's fallback (lmplz `--discount_fallback`: 0.5, 1, 1.5), with a warning. With these ranges every
level sums to one over the V symbols, so the model does. TODO: equation numbers of TR-10-98 were not checked
against the PDF (offline); the formulas above are cited by section.

Throughput (pure Python dicts keyed by tuples; 1 core of a shared 2-core machine, tiny-shakespeare characters,
1,003,737 training / 111,601 held-out symbols): order 2 fits at ~1.5 M symbols/s and scores at ~1.0 M symbols/s;
order 4 fits at ~0.35 M symbols/s and scores at ~0.45 M symbols/s.
"""

import gc
import logging
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

logger = logging.getLogger(__name__)

BOS = -1  # begin-of-sequence context symbol; real symbols are >= 0, so it can never collide with one

# KenLM's lmplz `--discount_fallback` defaults, used where Chen & Goodman's estimate of D1, D2, D3+ is undefined
# or out of range (e.g. no n-gram seen exactly twice).
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)

Symbols = Sequence[int]


def _as_symbols(sequence) -> Sequence[int]:
    """A list/tuple of Python ints (numpy arrays and tensors are converted: their scalars hash slower), checked
    to be >= 0 so that none can be mistaken for BOS."""
    if hasattr(sequence, "tolist"):
        sequence = sequence.tolist()
    if sequence and min(sequence) < 0:
        raise ValueError(f"symbols must be >= 0 (got {min(sequence)}); {BOS} is the begin-of-sequence context")
    return sequence


def _check_vocabulary(n_distinct: int, vocab_size: int) -> None:
    if n_distinct > vocab_size:
        raise ValueError(
            f"the training sequences hold {n_distinct} distinct symbols but vocab_size is {vocab_size}; pass a "
            "vocab_size at least that large (for characters: char_vocab_size(train_texts))"
        )


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Counting allocates millions of tuples, each of which advances the cyclic garbage collector, whose passes
    then rescan every tuple kept so far, although tuples of ints cannot form cycles. Pausing it halves the time
    to fit a 4-gram model on 1M near-random tokens (11.9 s → 6.2 s measured); reference counting still frees
    everything as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def perplexity(nll_nats: float, n_symbols: int) -> float:
    """exp(mean negative log-likelihood per symbol), from the totals `score` returns."""
    if n_symbols <= 0:
        raise ValueError("perplexity needs at least one predicted symbol")
    return math.exp(nll_nats / n_symbols)


class UniformModel:
    """Every symbol has probability 1/V: log V nats per symbol, the loss of an untrained model."""

    def __init__(self, vocab_size: int):
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
        self.vocab_size = vocab_size

    def fit(self, sequences: Iterable[Symbols]) -> "UniformModel":
        """Nothing to learn; checks the vocabulary so that all models reject the same data."""
        seen = set()
        for sequence in sequences:
            seen.update(_as_symbols(sequence))
        _check_vocabulary(len(seen), self.vocab_size)
        return self

    def probability(self, context: Symbols, symbol: int) -> float:
        return 1.0 / self.vocab_size

    def score(self, sequences: Iterable[Symbols]) -> tuple[float, int]:
        n_symbols = sum(len(_as_symbols(sequence)) for sequence in sequences)
        return n_symbols * math.log(self.vocab_size), n_symbols


class UnigramModel:
    """Add-k (Laplace for k = 1) unigram: p(w) = (c(w) + k) / (N + k·V), N the number of training symbols.

    Every one of the V symbols gets at least k/(N + kV), and the V probabilities sum to (N + kV)/(N + kV) = 1.
    """

    def __init__(self, vocab_size: int, k: float = 1.0):
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
        if k <= 0:
            raise ValueError(f"k must be > 0 (k = 0 gives unseen symbols probability 0), got {k}")
        self.vocab_size = vocab_size
        self.k = k
        self.counts: Counter = Counter()
        self.total = 0

    def fit(self, sequences: Iterable[Symbols]) -> "UnigramModel":
        self.counts = Counter()
        for sequence in sequences:
            self.counts.update(_as_symbols(sequence))
        _check_vocabulary(len(self.counts), self.vocab_size)
        self.total = sum(self.counts.values())
        return self

    def probability(self, context: Symbols, symbol: int) -> float:
        return (self.counts.get(symbol, 0) + self.k) / (self.total + self.k * self.vocab_size)

    def score(self, sequences: Iterable[Symbols]) -> tuple[float, int]:
        log_denominator = math.log(self.total + self.k * self.vocab_size)
        log_unseen = math.log(self.k) - log_denominator
        log_p = {w: math.log(c + self.k) - log_denominator for w, c in self.counts.items()}
        nll, n_symbols = 0.0, 0
        for sequence in sequences:
            sequence = _as_symbols(sequence)
            nll -= sum(log_p.get(w, log_unseen) for w in sequence)
            n_symbols += len(sequence)
        return nll, n_symbols


def kneser_ney_discounts(count_of_counts: dict[int, int]) -> tuple[float, float, float]:
    """Modified Kneser–Ney discounts (D1, D2, D3+) from the count-of-counts {r: n_r} of one order (C&G §3).

    A discount whose formula divides by zero or falls outside (0, r] takes KenLM's fallback value instead (see
    the module docstring for why the range), and a warning names it.
    """
    n1, n2, n3, n4 = (count_of_counts.get(r, 0) for r in (1, 2, 3, 4))
    estimates: list[float | None] = [None, None, None]
    if n1 > 0:
        y = n1 / (n1 + 2 * n2)
        for r, (n_r, n_next) in enumerate(((n1, n2), (n2, n3), (n3, n4)), start=1):
            if n_r > 0:
                estimates[r - 1] = r - (r + 1) * y * n_next / n_r
    discounts = []
    for r, (estimate, fallback) in enumerate(zip(estimates, FALLBACK_DISCOUNTS, strict=True), start=1):
        if estimate is None or not 0 < estimate <= r:
            if not any(n for count, n in count_of_counts.items() if count >= r):
                discounts.append(fallback)  # no n-gram is discounted by D_r: its value changes nothing
                continue
            logger.warning(
                "Kneser-Ney discount D%d cannot be estimated from count-of-counts n1..n4 = %s (got %s); using %s",
                r,
                (n1, n2, n3, n4),
                estimate,
                fallback,
            )
            estimate = fallback
        discounts.append(estimate)
    return discounts[0], discounts[1], discounts[2]


class NGramModel:
    """Interpolated modified Kneser–Ney n-gram model, recursing down to the uniform distribution (module docstring).

    `order` is n: 2 for a bigram (one symbol of history). `discount=None` estimates D1, D2, D3+ per order from the
    training counts (modified KN); a number d in (0, 1] uses D1 = D2 = D3+ = d at every order (plain interpolated
    KN with a fixed discount, e.g. the textbook 0.75).

    After `fit`: `counts[k]` maps each order-k n-gram (a tuple) to its adjusted count, `discounts[k]` is
    (D1, D2, D3+) of order k, for k = 1..n.
    """

    def __init__(self, order: int, vocab_size: int, discount: float | None = None):
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
        if discount is not None and not 0 < discount <= 1:
            raise ValueError(f"a fixed discount must be in (0, 1] (it is taken from counts of 1), got {discount}")
        self.order = order
        self.vocab_size = vocab_size
        self.discount = discount
        self.counts: dict[int, dict[tuple[int, ...], int]] = {}
        self.discounts: dict[int, tuple[float, float, float]] = {}
        # Per order k: history -> (c_k(h•), γ_k(h)), computed once in `fit` so scoring is dictionary lookups.
        self._histories: dict[int, dict[tuple[int, ...], tuple[int, float]]] = {k: {} for k in range(1, order + 1)}

    def fit(self, sequences: Iterable[Symbols]) -> "NGramModel":
        """Count n-grams of every order, adjust the lower orders to continuation counts, estimate discounts."""
        with _cyclic_gc_paused():
            self._fit(sequences)
        return self

    def _fit(self, sequences: Iterable[Symbols]) -> None:
        n = self.order
        raw: dict[int, Counter] = {k: Counter() for k in range(1, n + 1)}
        for sequence in sequences:
            padded = (BOS, *_as_symbols(sequence))
            for k in range(1, n + 1):
                # k-grams ending on each real symbol (the shifted copies are ragged by design: zip stops at the
                # shortest); only the unigram has to skip BOS itself
                first = 1 if k == 1 else 0
                raw[k].update(zip(*(padded[first + j :] for j in range(k)), strict=False))
        _check_vocabulary(len(raw[1]), self.vocab_size)

        self.counts = {n: raw.pop(n)}  # a Counter is a dict: kept as is rather than copied
        for k in range(n - 1, 0, -1):
            # The keys of counts[k + 1] are the distinct (left symbol, *g) seen, so counting their suffixes counts
            # the distinct left neighbours of g. A k-gram not starting with BOS always has one (BOS at least).
            left_neighbours = Counter(gram[1:] for gram in self.counts[k + 1])
            self.counts[k] = {g: (c if g[0] == BOS else left_neighbours[g]) for g, c in raw.pop(k).items()}

        for k in range(1, n + 1):
            if self.discount is None:
                self.discounts[k] = kneser_ney_discounts(Counter(self.counts[k].values()))
            else:
                self.discounts[k] = (self.discount,) * 3
            self._histories[k] = self._history_statistics(self.counts[k], self.discounts[k])

    @staticmethod
    def _history_statistics(counts: dict, discounts: tuple[float, float, float]) -> dict:
        """history -> (c(h•), γ(h)) for one order."""
        totals: dict[tuple[int, ...], list[int]] = {}  # history -> [c(h•), N_1(h•), N_2(h•), N_3+(h•)]
        for gram, count in counts.items():
            row = totals.get(gram[:-1])
            if row is None:
                row = totals[gram[:-1]] = [0, 0, 0, 0]
            row[0] += count
            row[min(count, 3)] += 1
        d1, d2, d3 = discounts
        return {h: (total, (d1 * n1 + d2 * n2 + d3 * n3) / total) for h, (total, n1, n2, n3) in totals.items()}

    def _probability(self, history: tuple[int, ...], symbol: int) -> float:
        """p(symbol | history), history the last ≤ n−1 symbols of (BOS, *context), by the recursion bottom-up."""
        p = 1.0 / self.vocab_size
        m = len(history)
        for k in range(1, m + 2):
            h = history[m - k + 1 :]  # the last k−1 symbols
            stats = self._histories[k].get(h)
            if stats is None:
                # Unseen history: p_k = p_{k−1}. Every longer history ends with this one, so is unseen too.
                break
            total, gamma = stats
            count = self.counts[k].get((*h, symbol), 0)
            discount = self.discounts[k][min(count, 3) - 1] if count else 0.0
            p = (count - discount) / total + gamma * p
        return p

    def probability(self, context: Symbols, symbol: int) -> float:
        """p(symbol | context), context the symbols of the same sequence before it (empty at its start)."""
        history = (BOS, *_as_symbols(context))[-(self.order - 1) :] if self.order > 1 else ()
        return self._probability(history, symbol)

    def score(self, sequences: Iterable[Symbols]) -> tuple[float, int]:
        width = self.order - 1
        log, probability = math.log, self._probability
        nll, n_symbols = 0.0, 0
        for sequence in sequences:
            padded = (BOS, *_as_symbols(sequence))
            for i in range(1, len(padded)):
                nll -= log(probability(padded[max(0, i - width) : i] if width else (), padded[i]))
            n_symbols += len(padded) - 1
        return nll, n_symbols


def _model_name(order: int) -> str:
    return "bigram" if order == 2 else f"{order}-gram"


def ngram_baselines(
    train_sequences: Iterable[Symbols],
    eval_sequences: Iterable[Symbols],
    vocab_size: int,
    orders: Sequence[int] = (2, 3, 4),
) -> dict[str, dict[str, float]]:
    """Fit uniform, add-one unigram and Kneser–Ney n-gram models of each order on the training sequences and
    score the evaluation sequences.

    Returns {"uniform": …, "unigram": …, "bigram": …, "3-gram": …} (an order-1 KN model is "1-gram"), each
    {"nats_per_symbol", "nll_nats", "n_symbols"}.
    """
    train = [_as_symbols(s) for s in train_sequences]
    evaluation = [_as_symbols(s) for s in eval_sequences]
    models = {"uniform": UniformModel(vocab_size), "unigram": UnigramModel(vocab_size)}
    models.update({_model_name(n): NGramModel(n, vocab_size) for n in orders})
    results = {}
    for name, model in models.items():
        nll, n_symbols = model.fit(train).score(evaluation)
        if n_symbols == 0:
            raise ValueError("eval_sequences hold no symbols to predict")
        results[name] = {"nats_per_symbol": nll / n_symbols, "nll_nats": nll, "n_symbols": n_symbols}
    return results


def chars_to_ids(text: str) -> list[int]:
    """Characters as symbols: their Unicode code points (no normalization; that is the data pipeline's job)."""
    return [ord(ch) for ch in text]


def char_vocab_size(train_texts: Iterable[str]) -> int:
    """Vocabulary size for character models: the distinct characters of the training texts + 1 slot that every
    unseen character shares (an `<unk>`; see the module docstring for what this under-charges)."""
    distinct: set[str] = set()
    for text in train_texts:
        distinct.update(text)
    return len(distinct) + 1
