"""Response-quality metrics: hand-computed values on tiny vectors, plus the real loaders."""
import math

import numpy as np
import pytest

from pipeline.evaluation.metrics import (
    WordVectors,
    bleu,
    distinct_n,
    embedding_scores,
    load_word_vectors,
)

R2 = 1 / math.sqrt(2)  # 0.70711


@pytest.fixture
def vecs():
    words = ["a", "b", "c", "p", "q", "s"]
    matrix = np.array([[1, 0],     # a
                       [0, 1],     # b
                       [1, 1],     # c
                       [2, -1],    # p
                       [-3, 0.5],  # q
                       [-1, 1]],   # s
                      dtype=np.float32)
    return WordVectors(words, matrix, "tiny")


def scores(vecs, ref, hyp):
    return embedding_scores([ref], [hyp], vecs)


def test_word_vectors_lookup(vecs):
    assert vecs.dim == 2 and vecs.name == "tiny"
    assert "c" in vecs and "zzz" not in vecs
    assert vecs.get("zzz") is None
    np.testing.assert_array_equal(vecs.get("p"), [2, -1])
    assert vecs.get("p").dtype == np.float32


def test_orthogonal_pair_greedy_directions_differ(vecs):
    # ref {a, b}, response {a}. mean(ref) = [.5, .5], mean(hyp) = [1, 0]
    # average = .5 / (sqrt(.5) * 1) = 1/sqrt2
    # greedy: ref->hyp: a->a 1, b->a 0 => .5; hyp->ref: a->a 1 => 1; mean = .75
    # extrema: ref per-dim max|.| = [1, 1], hyp [1, 0] => 1/sqrt2
    s = scores(vecs, ["a", "b"], ["a"])
    assert s["average"] == pytest.approx(R2, abs=1e-6)
    assert s["greedy"] == pytest.approx(0.75, abs=1e-6)
    assert s["extrema"] == pytest.approx(R2, abs=1e-6)
    assert s["pairs"] == 1


def test_non_orthogonal_pair(vecs):
    # ref {a, c}, response {b}. mean(ref) = [1, .5], hyp = [0, 1]
    # average = .5 / sqrt(1.25) = .44721
    # greedy: cos(a,b) = 0, cos(c,b) = 1/sqrt2. ref->hyp: (0 + .70711)/2 = .35355;
    #         hyp->ref: max(0, .70711) = .70711; mean = .53033
    # extrema: ref [max(1,1), max(0,1)] = [1, 1], hyp [0, 1] => 1/sqrt2
    s = scores(vecs, ["a", "c"], ["b"])
    assert s["average"] == pytest.approx(0.5 / math.sqrt(1.25), abs=1e-6)
    assert s["greedy"] == pytest.approx((R2 / 2 + R2) / 2, abs=1e-6)
    assert s["extrema"] == pytest.approx(R2, abs=1e-6)


def test_greedy_symmetrised(vecs):
    # Swapping reference and response swaps the two directions; the mean is unchanged.
    one, other = scores(vecs, ["a", "c"], ["b"]), scores(vecs, ["b"], ["a", "c"])
    for key in ("average", "greedy", "extrema"):
        assert one[key] == pytest.approx(other[key], abs=1e-6)


def test_extrema_keeps_sign(vecs):
    # ref {p=[2,-1], q=[-3,.5]}: dim0 max|.| is -3, dim1 is -1 => [-3, -1]; hyp {s} = [-1, 1]
    # extrema = (3 - 1) / (sqrt(10) * sqrt(2)) = 2 / sqrt(20) = .44721
    # (dropping the sign gives [3, 1] vs [1, 1] -> .89443; a plain max gives [2, .5] -> -.51450)
    s = scores(vecs, ["p", "q"], ["s"])
    assert s["extrema"] == pytest.approx(2 / math.sqrt(20), abs=1e-6)
    # average: mean(ref) = [-.5, -.25]; cos with [-1, 1] = .25 / (sqrt(.3125) * sqrt(2)) = .31623
    assert s["average"] == pytest.approx(0.25 / (math.sqrt(0.3125) * math.sqrt(2)), abs=1e-6)


def test_oov_skipped_and_edge_pairs_counted(vecs):
    refs = [["a", "zzz", "b"],   # OOV dropped: same as ({a, b}, {a}) -> 1/sqrt2, .75, 1/sqrt2
            ["zzz", "qqq"],      # no reference vectors: left out, counted as skipped
            ["a"],               # empty response: 0, 0, 0
            ["a"],               # all-OOV response: 0, 0, 0
            ["c"]]               # identical: 1, 1, 1
    hyps = [["a", "yyy"], ["a"], [], ["zzz"], ["c"]]
    s = embedding_scores(refs, hyps, vecs)
    assert s["pairs"] == 4
    assert s["skipped_no_reference_vectors"] == 1
    assert s["zero_no_response_vectors"] == 2
    # means over the 4 scored pairs
    assert s["average"] == pytest.approx((R2 + 0 + 0 + 1) / 4, abs=1e-6)   # .42678
    assert s["greedy"] == pytest.approx((0.75 + 0 + 0 + 1) / 4, abs=1e-6)  # .4375
    assert s["extrema"] == pytest.approx((R2 + 0 + 0 + 1) / 4, abs=1e-6)  # .42678


def test_no_scored_pairs_and_misaligned(vecs):
    s = embedding_scores([["zzz"]], [["a"]], vecs)
    assert s == {"average": 0.0, "greedy": 0.0, "extrema": 0.0, "pairs": 0,
                 "skipped_no_reference_vectors": 1, "zero_no_response_vectors": 0}
    assert embedding_scores([], [], vecs)["pairs"] == 0
    with pytest.raises(ValueError):
        embedding_scores([["a"]], [], vecs)


def test_zero_vector_cosine_is_zero():
    v = WordVectors(["z", "a"], np.array([[0, 0], [1, 0]], dtype=np.float32), "zero")
    s = embedding_scores([["a"]], [["z"]], v)
    assert s["pairs"] == 1 and s["zero_no_response_vectors"] == 0
    assert s["average"] == 0.0 and s["greedy"] == 0.0 and s["extrema"] == 0.0


def test_distinct_n():
    responses = [["i", "am", "ok"], ["i", "am", "fine"], ["x"]]
    # unigrams: i am ok i am fine x = 7 total, {i, am, ok, fine, x} = 5 distinct
    assert distinct_n(responses, 1) == pytest.approx(5 / 7)
    # bigrams: (i am) (am ok) (i am) (am fine) = 4 total, 3 distinct; ["x"] has none
    assert distinct_n(responses, 2) == pytest.approx(3 / 4)
    assert distinct_n([["x"], []], 2) == 0.0
    assert distinct_n([], 1) == 0.0


def test_bleu():
    refs = [["hello", ",", "how", "are", "you", "?"], ["i", "am", "fine", "thanks", "."]]
    same = bleu(refs, refs)
    assert same["bleu"] == pytest.approx(100.0)
    for n in range(1, 5):
        assert same[f"bleu_{n}"] == pytest.approx(100.0)
    disjoint = bleu(refs, [["w", "x", "y", "z", "q", "r"], ["k", "l", "m", "n", "o"]])
    assert disjoint["bleu"] == 0.0 and disjoint["bleu_1"] == 0.0
    assert bleu([], []) == {"bleu": 0.0, "bleu_1": 0.0, "bleu_2": 0.0, "bleu_3": 0.0,
                            "bleu_4": 0.0}


def test_load_default_glove():
    glove = load_word_vectors()
    assert glove.dim == 50
    assert "the" in glove
    assert glove.get("the").dtype == np.float32

    def cos(x, y):
        u, v = glove.get(x), glove.get(y)
        return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))

    assert cos("good", "great") > cos("good", "parliament")


def test_load_word2vec_text_and_binary(tmp_path):
    text = tmp_path / "vecs.txt"
    text.write_text("3 2\nhello 1.0 0.0\nworld 0.0 1.0\nbye -1.0 0.5\n", encoding="utf-8")
    v = load_word_vectors(str(text))
    assert v.dim == 2 and len(v) == 3
    np.testing.assert_allclose(v.get("bye"), [-1.0, 0.5])
    assert embedding_scores([["hello"]], [["hello", "oov"]], v)["average"] == pytest.approx(1.0)

    from gensim.models import KeyedVectors
    kv = KeyedVectors.load_word2vec_format(str(text), binary=False)
    binary = tmp_path / "vecs.bin"
    kv.save_word2vec_format(str(binary), binary=True)
    vb = load_word_vectors(str(binary))
    np.testing.assert_allclose(vb.get("world"), [0.0, 1.0])


def test_missing_vectors_file(tmp_path):
    missing = str(tmp_path / "nope.bin")
    with pytest.raises(FileNotFoundError, match="nope.bin"):
        load_word_vectors(missing)


def test_embedding_words_drop_punctuation_and_split_contractions():
    from pipeline.evaluation.metrics import embedding_words
    tokens = ["i'm", "not", "sure", ".", "don't", "you", "think", "?", "can't", "<unk>",
              "it's", "o'clock", "--", "3", "!"]
    assert embedding_words(tokens) == ["i", "am", "not", "sure", "do", "not", "you", "think",
                                       "can", "not", "it", "o'clock", "3"]


def test_punctuation_and_contractions_change_the_scores_by_hand():
    # Words: do=(1,0) not=(0,1) i=(1,1) am=(-1,1); "." would pull every sentence together.
    v = WordVectors(["do", "not", "i", "am", "."], np.array(
        [[1, 0], [0, 1], [1, 1], [-1, 1], [5, 5]], np.float32), "hand")
    s = embedding_scores([["don't", "."]], [["i'm", "."]], v)
    # ref words do, not -> mean (0.5, 0.5); hyp words i, am -> mean (0, 1): cos = R2.
    assert s["average"] == pytest.approx(R2)
    # greedy: ref->hyp: do: max(cos(do,i)=R2, cos(do,am)=-R2)=R2; not: max(R2, R2)=R2;
    # hyp->ref: i: max(R2, R2)=R2; am: max(-R2, R2)=R2 -> R2.
    assert s["greedy"] == pytest.approx(R2)
    # extrema: ref (1, 1), hyp (1, 1) (ties keep the first row's sign) -> 1.
    assert s["extrema"] == pytest.approx(1.0)
    # A reply of punctuation only has no words: a failure scored 0, not a free match.
    assert embedding_scores([["don't"]], [[".", "!"]], v)["zero_no_response_vectors"] == 1
    assert embedding_scores([[".", "?"]], [["i"]], v)["skipped_no_reference_vectors"] == 1


def test_reference_responders_on_a_toy_corpus():
    from pipeline.evaluation.reference_responders import (
        ReferenceResponders,
        derangement,
        training_pairs,
    )
    train = [["how are you ?", "fine , thanks .", "good ."],
             ["where do you live ?", "in paris .", "nice ."],
             ["hello", "good ."]]
    pairs = training_pairs(train)
    assert pairs[0] == ("how are you ?", "fine , thanks .") and len(pairs) == 5
    responders = ReferenceResponders(pairs)
    assert responders.constant == "good ."  # the most frequent training response
    examples = [{"id": "a", "context": "hi __eou__ where do you live ?",
                 "gold": ["in london .", "cool ."]},
                {"id": "b", "context": "how are you ?", "gold": ["great .", "ok ."]}]
    replies = responders.respond(examples)
    assert replies["constant"] == [["good .", "good ."]] * 2
    assert replies["random_gold"] == [["great .", "ok ."], ["in london .", "cool ."]]
    # Retrieval answers the last utterance, then its own reply as the next prompt.
    assert replies["retrieval"][0] == ["in paris .", "nice ."]
    assert replies["retrieval"][1][0] == "fine , thanks ."
    for n in range(2, 30):
        order = derangement(n, seed=n)
        assert sorted(order) == list(range(n)) and all(i != j for i, j in enumerate(order))


def test_repetition_rate_counts_runs_of_three():
    from pipeline.evaluation.metrics import repetition_rate
    responses = [["yes", ",", ",", ",", "."], ["no", "no", "."], ["a", "b", "a", "b"], []]
    assert repetition_rate(responses) == 0.25
    assert repetition_rate(responses, run=2) == 0.5
    assert repetition_rate([]) == 0.0


def test_bleu_on_tokenized_text_logs_no_detokenize_warning(caplog):
    from pipeline.evaluation.metrics import bleu
    lines = [["hello", "there", "my", "friend", "."]] * 150  # 100+ lines ending in " ."
    with caplog.at_level("WARNING"):
        score = bleu(lines, lines)
    assert score["bleu"] == pytest.approx(100.0)
    assert not [r for r in caplog.records if "detokenize" in r.getMessage()]
