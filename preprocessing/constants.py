"""What training, evaluation and serving need from preprocessing, without importing Beam:
the special tokens and their ids, the file names of a preprocessed folder, and reading
vocab.txt. (The Beam transforms that make them are in `vocab.py` and `output.py`.)"""

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)  # ids 0..3; <pad> must be 0 for masking
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)
VOCAB_FILE = "vocab.txt"
# The papers' data: utterances cut at 30 words (VHCR), dialogues in 80-word slices (CO;
# VHCR keeps conversations whole, max_slice_words 0). The preprocessing defaults.
MAX_UTTERANCE_WORDS = 30
CO_SLICE_WORDS = 80
MANIFEST = "run.json"  # written last by a finished preprocessing run


def load_vocab(path):
    """Reads vocab.txt into a list of tokens (line number = id)."""
    with open(path, encoding="utf-8") as f:
        tokens = [line.rstrip("\n") for line in f]
    if tuple(tokens[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
        raise ValueError(f"{path}: the first lines must be {SPECIAL_TOKENS}, "
                         f"got {tokens[:len(SPECIAL_TOKENS)]}")
    return tokens
