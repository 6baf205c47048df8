"""Japanese quality filter: clean prose, statutes, encyclopedia text and novels are kept; each rule drops its junk with
its own reason code; nothing crashes on empty, tiny or enormous documents. And the script-run word tokenizer."""

import pickle
import random

import pytest
from datatrove.data import Document
from datatrove.pipeline.filters import GopherRepetitionFilter

from hfpretrain.data.quality_ja import (
    JapaneseQualityFilter,
    JapaneseWordTokenizer,
    _NgramStats,
    sentence_spans,
    split_sentences,
)

PROSE = (
    "朝の通勤電車はいつも混んでいるが、今日は祝日なので車内は静かだった。"
    "窓の外を眺めていると、川沿いの桜並木がちょうど満開になっているのが見えた。"
    "駅に着いてから少し遠回りをして、公園の中をゆっくり歩いてみることにした。"
    "ベンチでは年配の夫婦が弁当を広げていて、子どもたちは芝生の上を走り回っていた。"
    "こういう何気ない風景を見ると、忙しい毎日の中でも季節はきちんと巡っているのだと感じる。"
)
STATUTE = (
    "健康づくり推進法\n"
    "（目的）\n"
    "第一条　この法律は、国民の健康の保持増進に関する基本的な事項を定めるとともに、国及び地方公共団体の責務を明らか"
    "にし、並びに国民の健康づくりの推進に関する施策を総合的かつ計画的に推進するために必要な事項を定めることにより、"
    "健康で文化的な生活の実現に寄与するとともに、保健、医療及び福祉の向上を図り、もって国民生活の安定及び向上並びに"
    "地域社会の持続的な発展に資し、あわせて将来の世代が健やかに暮らすことのできる社会の形成に寄与することを目的とする。\n"
    "（定義）\n"
    "第二条　この法律において「健康づくり」とは、国民が自らの健康状態を自覚し、その保持増進に努めることをいう。\n"
    "（国の責務）\n"
    "第三条　国は、前条に規定する健康づくりの推進に関する施策を総合的に策定し、及び実施する責務を有する。\n"
    "２　国は、前項の施策を実施するに当たっては、地方公共団体との連携に配慮しなければならない。\n"
    "附　則\n"
    "この法律は、公布の日から施行する。"
)
KATAKANA_STYLE_STATUTE = (  # pre-1946 style: particles and inflections in katakana, no hiragana at all
    "年齢計算ニ関スル法律\n"
    "一　年齢ハ出生ノ日ヨリ之ヲ起算ス\n"
    "二　民法第百四十三条ノ規定ハ年齢ノ計算ニ之ヲ準用ス\n"
    "三　明治六年第三十六号布告ハ之ヲ廃止ス"
)
WIKI = (
    "ハンス・クリスチャン・アンデルセン（Hans Christian Andersen、1805年4月2日 - 1875年8月4日）は、"
    "デンマークの童話作家、詩人である。代表作に『人魚姫』『マッチ売りの少女』『みにくいアヒルの子』などがあり、"
    "その作品は百を超える言語に翻訳されている。オーデンセの貧しい靴職人の家に生まれ、"
    "十四歳で単身コペンハーゲンに出て俳優や歌手を目指したが、やがて文筆の道に進んだ。"
)
NOVEL = (
    "「もう帰るのかい。」と兄は読みかけの本から目を上げずに言った。\n"
    "「ええ、雨が降り出さないうちに。」\n"
    "私は傘を手に取り、玄関の戸を静かに開けた。外はすでに薄暗く、向かいの家の窓には明かりがともっていた。"
)


@pytest.mark.parametrize("text", [PROSE, STATUTE, KATAKANA_STYLE_STATUTE, WIKI, NOVEL])
def test_clean_documents_are_kept(text):
    assert JapaneseQualityFilter().filter(Document(text=text, id="0")) is True


def test_statutes_may_have_sentences_over_200_characters():
    assert max(map(len, split_sentences(STATUTE))) > 200  # Swallow's max_sentence_length would drop it


def _sentence(i: int, rng: random.Random) -> str:
    who = rng.choice(["私", "兄", "先生", "近所の子ども", "市の職員", "旅行者"])
    where = rng.choice(["駅前", "図書館", "川沿いの道", "商店街", "公園", "港"])
    what = rng.choice(["本を読んでいた", "写真を撮っていた", "友人と話していた", "雨宿りをしていた"])
    return f"{i}日目の午後、{who}は{where}で{what}。"


TEMPLATED = "\n".join(  # a templated listing: every sentence differs (the name), most 10-grams repeat
    sentence.format(name)
    for name in ["山田", "佐藤", "鈴木", "高橋"]
    for sentence in [
        "{}さんは東京都内の大きな会社で毎日遅くまで働いていますが、週末には家族と一緒に近くの公園へ出かけています。",
        "{}さんの趣味は写真で、季節ごとに山や海へ出かけては風景を撮影し、気に入った作品を展示会に出しています。",
        "最近は{}さんも料理に興味を持ち始め、休日には近所の市場で新鮮な野菜を買って家族のために夕食を作ります。",
        "来年には{}さんも仕事の関係で大阪へ引っ越す予定ですが、今の生活もとても気に入っていると話しています。",
    ]
)
LONG_LINE = (
    "当店では、季節の食材を使った料理をご用意しております。ご予約は前日までにお電話でお願いいたします。"
    "なお、団体様向けのコース料理もございますので、お気軽にご相談ください。"
)
ONE_LONG_SENTENCE = (
    "本日は"
    + "、".join(f"{_sentence(i, random.Random(i))[:-1]}のを見かけ" for i in range(20))
    + "、とても楽しい一日を過ごしました。"
)
LONG_SENTENCE = (
    "私たちは" + "、".join(["朝早くから夕方遅くまで畑で野菜を育てながら季節の移ろいを感じて"] * 5) + "暮らしている。"
)

SHOP_LINES = [
    "営業時間は午前十一時から午後十時までです。",
    "定休日は毎週火曜日です。",
    "駐車場は十台分ございます。",
    "最寄り駅から徒歩五分の場所にあります。",
    "カードでのお支払いも可能です。",
    "お子様連れのお客様も歓迎いたします。",
]
EVENT_LINES = [
    "今月のイベントは駅前広場で開催されます。",
    "参加費は無料で、どなたでも参加できます。",
    "雨天の場合は市民ホールに会場を変更します。",
    "詳しくは事務局までお問い合わせください。",
    "皆様のご来場を心よりお待ちしております。",
]
AFTERNOON = (
    "午後は近所の公園まで散歩に出かけました。公園には家族連れがたくさん来ていました。"
    "帰りに駅前のパン屋に寄って食パンを買った。夕飯は久しぶりにカレーを作ってみた。"
)
NEGATIVES = {
    "ja_empty": "",
    "ja_too_short": "こんにちは。",
    "ja_mojibake": PROSE + "\n" + "日本語の文章が文字化けしています。".encode("cp932").decode("latin-1"),
    "ja_low_japanese_fraction": (
        "This product is great. I bought it last week and it works very well. 本当に良い商品です。"
    ),
    "ja_low_hiragana": (  # a keyword list: nouns only
        "東京都千代田区　丸の内　ホテル　予約　格安　宿泊プラン　朝食付き　駐車場完備　観光　出張　温泉　会議室"
    ),
    "ja_high_katakana": "アメリカンコーヒーとカフェラテとカプチーノとエスプレッソとキャラメルマキアートのセット",
    "ja_ng_words": (
        "無修正のアダルト動画が無料登録ですぐ見られます。出会い系サイトでセフレを探そう。今すぐ登録してください。"
    ),
    "ja_char_repetition": PROSE + "\nｗｗｗｗｗｗｗｗｗｗｗｗｗｗｗｗｗｗ",
    "ja_sentence_too_long": ONE_LONG_SENTENCE,
    "ja_avg_sentence_too_short": "ホーム\n会社概要\n事業内容\nお知らせ\n採用情報\nお問い合わせ\nアクセス\nサイトマップ",
    "ja_avg_sentence_too_long": LONG_SENTENCE + LONG_SENTENCE.replace("私たち", "彼ら"),
    "ja_ellipsis_sentences": "今日は雨だった…\n明日は晴れるかな…\nでもまた降るかもしれない…\nそれでも出かけたい。",
    "ja_dup_line_fraction": "\n".join(["新着情報はこちらをご覧ください。"] * 5 + EVENT_LINES),
    "ja_dup_line_char_fraction": "\n".join([LONG_LINE, *SHOP_LINES[:2], LONG_LINE, *SHOP_LINES[2:]]),
    "ja_dup_sentence_fraction": "今日は朝から良い天気で気持ちが良いです。" * 4 + AFTERNOON,
    "ja_dup_sentence_char_fraction": (
        "今日は朝から良い天気で、空には雲ひとつなく、風も穏やかで本当に気持ちの良い一日でした。" * 2 + AFTERNOON
    ),
    "ja_top_ngram": "".join(f"商品{c}は{(i + 1) * 1000}円です。" for i, c in enumerate("ABCDEFGHIJKLMNOPQRST")),
    "ja_dup_ngram": TEMPLATED,
}


@pytest.mark.parametrize(("reason", "text"), list(NEGATIVES.items()), ids=list(NEGATIVES))
def test_each_rule_drops_with_its_reason(reason, text):
    assert JapaneseQualityFilter().filter(Document(text=text, id="0")) == (False, reason)


def test_every_reason_code_is_tested():
    source = JapaneseQualityFilter.__doc__
    codes = {word.strip("`,.") for word in source.split() if word.strip("`,.").startswith("ja_")}
    assert codes == set(NEGATIVES)


def test_top_ngram_ties_do_not_depend_on_the_hash_seed():
    # ("ab", "c") and ("dddd", "e") both occur twice: the longer one counts, whatever order the hashes sort in
    stats = _NgramStats(["ab", "c", "ab", "c", "dddd", "e", "dddd", "e"])
    assert stats.top_fraction(2) == 2 * 5 / 16
    assert stats.duplicate_fraction(2) == (3 + 5) / 16  # the second ab c and the second dddd e


def test_a_disabled_rule_does_not_drop():
    text = NEGATIVES["ja_avg_sentence_too_short"]
    assert JapaneseQualityFilter(min_avg_sentence_length=None).filter(Document(text=text, id="0")) is True


@pytest.mark.parametrize("text", ["", " ", "\n\n", "　\t", "あ", "。", "a", "ｗ", "\u200b", "ー" * 5, "!" * 3])
def test_tiny_documents_never_crash(text):
    every_rule = JapaneseQualityFilter(min_chars=None, max_char_repetition=2)
    result = every_rule.filter(Document(text=text, id="0"))
    assert result is True or (result[0] is False and result[1].startswith("ja_"))
    if not text.strip():
        assert result == (False, "ja_empty")


def _random_text(n_sentences: int, seed: int = 0) -> str:
    """Varied pseudo-Japanese: random two-kanji words joined by particles, five sentences a line."""
    rng = random.Random(seed)
    kanji = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    particles = ["は", "が", "を", "に", "で", "と", "の", "から", "まで", "より"]
    lines = []
    for _ in range(0, n_sentences, 5):
        sentences = (
            "".join(rng.choice(kanji) + rng.choice(kanji) + rng.choice(particles) for _ in range(rng.randint(4, 9)))
            + "ある。"
            for _ in range(5)
        )
        lines.append("".join(sentences))
    return "\n".join(lines)


def test_enormous_document():
    text = _random_text(45_000)  # ~1.1M characters: more than the n-gram statistics read
    assert len(text) > 1_000_000
    assert JapaneseQualityFilter().filter(Document(text=text, id="0")) is True
    repeated = text + ("\n" + PROSE) * 15_000
    assert JapaneseQualityFilter().filter(Document(text=repeated, id="1")) == (False, "ja_dup_line_fraction")


def test_ng_words_from_a_user_file(tmp_path):
    path = tmp_path / "ng.txt"
    path.write_text("# our own list\n\n桜並木\n公園\n", encoding="utf-8")
    doc = Document(text=PROSE, id="0")
    assert JapaneseQualityFilter(ng_words_path=str(path), max_ng_word_fraction=0.02).filter(doc) == (
        False,
        "ja_ng_words",
    )
    no_words = JapaneseQualityFilter(use_default_ng_words=False)
    assert no_words.ng_word_chars(NEGATIVES["ja_ng_words"]) == 0
    assert no_words.filter(Document(text=NEGATIVES["ja_ng_words"], id="0")) is True


def test_filter_counts_reasons_in_a_pipeline():
    quality = JapaneseQualityFilter()
    docs = [Document(text=t, id=str(i)) for i, t in enumerate([PROSE, "", NEGATIVES["ja_char_repetition"], NOVEL])]
    kept = [d.id for d in quality.run(iter(docs))]
    assert kept == ["0", "3"]
    stats = quality.stats.to_dict()["stats"]
    assert stats["dropped_ja_empty"] == 1 and stats["dropped_ja_char_repetition"] == 1


# ---------------------------------------------------------------------------------------------------------------
# Tokenizer


def test_word_tokenize_script_runs():
    tokenizer = JapaneseWordTokenizer()
    text = "東京都に住んでいるエンジニアのJohnは、Pythonが3.14倍好きです！ Don't panic."
    assert tokenizer.word_tokenize(text) == [
        "東京都",
        "に",
        "住",
        "んでいる",
        "エンジニア",
        "の",
        "John",
        "は",
        "、",
        "Python",
        "が",
        "3.14",
        "倍好",
        "きです",
        "！",
        "Don't",
        "panic",
        ".",
    ]
    # ー belongs to katakana: after hiragana it starts a run of its own
    assert tokenizer.word_tokenize("ラーメンを食べたーい") == ["ラーメン", "を", "食", "べた", "ー", "い"]
    assert tokenizer.word_tokenize("") == [] and tokenizer.word_tokenize(" \n　") == []


def test_sentences_keep_closing_brackets():
    tokenizer = JapaneseWordTokenizer()
    text = "「はい。」と彼は言った。本当？！嘘でしょ!?\n\n見出し\n  最後の行…  "
    sentences = ["「はい。」", "と彼は言った。", "本当？！", "嘘でしょ!?", "見出し", "最後の行…"]
    assert tokenizer.sent_tokenize(text) == sentences
    spans = tokenizer.span_tokenize(text)
    assert [text[start:end] for start, end in spans] == sentences
    assert spans == sentence_spans(text) and all(a < b for a, b in spans)
    assert tokenizer.sent_tokenize("") == [] and tokenizer.span_tokenize(" \n ") == []


def test_tokenizer_plugs_into_datatrove_filters():
    gopher = GopherRepetitionFilter(language=JapaneseWordTokenizer())
    assert gopher.filter(Document(text=PROSE, id="0")) is True
    assert gopher.filter(Document(text=TEMPLATED, id="1")) is not True


def test_mecab_word_tokenize():
    pytest.importorskip("fugashi")
    tokenizer = JapaneseWordTokenizer(use_mecab=True)
    words = tokenizer.word_tokenize("東京都に住んでいます。")
    assert "".join(words) == "東京都に住んでいます。" and "住ん" in words  # morphemes, finer than script runs
    assert tokenizer.sent_tokenize("一つ目。二つ目。") == ["一つ目。", "二つ目。"]
    clone = pickle.loads(pickle.dumps(tokenizer))  # the tagger is not pickled, the copy makes its own
    assert clone._tagger is None and clone.word_tokenize("東京都に住んでいます。") == words
