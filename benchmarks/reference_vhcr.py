"""The VHCR authors' own PyTorch code run beside ours, on the same data and regime.

A study's verdict on VHCR means more beside the authors' code trained on the same
conversations, vocabulary, sizes and schedule: if their code keeps z_conv where ours
collapses (or the other way), the difference is in an implementation, not in the regime.
Their code (github.com/ctr4si/A-Hierarchical-Latent-Structure-for-Variational-
Conversation-Modeling) is fetched outside this repository and never committed; `torch` is
not a dependency of dialogvae. Three steps:

    # 1. their code, in a folder of your own (any checkout of the repository)
    REPO=ctr4si/A-Hierarchical-Latent-Structure-for-Variational-Conversation-Modeling
    git clone https://github.com/$REPO ~/vhcr-authors
    # 2. a Python with torch beside ours (CPU build; their code needs numpy and tqdm too;
    #    PyPI's Linux torch is a CUDA build: add --index-url
    #    https://download.pytorch.org/whl/cpu where no CPU wheel is at hand)
    python3.11 -m venv ~/.cache/dialogvae/reference/venv
    ~/.cache/dialogvae/reference/venv/bin/pip install torch==2.13.0 numpy tqdm
    # 3. our data in their format, with the study row's settings; then their training
    .venv/bin/python -m benchmarks.reference_vhcr convert --study vhcr_dailydialog \
        --row vhcr_ud --out ~/.cache/dialogvae/reference/vhcr_ud
    ~/.cache/dialogvae/reference/venv/bin/python benchmarks/reference_vhcr.py run \
        --code ~/vhcr-authors --work ~/.cache/dialogvae/reference/vhcr_ud \
        --results results/vhcr_dailydialog/reference/vhcr_ud.json

`convert` (our environment) writes the preprocessed split as their pickles (word lists
padded with <eos> and <pad>, sentence and conversation lengths, word2id / id2word with
our ids) and `settings.json`: the study row's sizes and schedule at the converged reduced
scale. `run` (the torch environment; it imports nothing of dialogvae) copies their
`model/` folder into the work folder, applies the minimal edits below, builds their model
with their initialisation (`Solver.build`), and trains it with their loss and update
(the body of `VariationalSolver.train`: summed NLL + kl_mult * KL, + bag-of-words,
gradient clipping, Adam; kl_mult grows by 1 / ramp per step) on batches drawn as their
DataLoader does (shuffled, sorted by length). At every `validate_every` steps it
evaluates the whole validation split as `VariationalSolver.evaluate` does (dropout off,
utterance drop left on) and again with utterance drop off (the model's bound, as ours is
validated), splitting the KL into z_conv and z_utt, and applies our early-stopping rule.
It writes the curve to `--results` after every validation and a checkpoint to the work
folder: rerunning the same command resumes.

Edits to their code (Python 3.11, torch 2 and a CPU reject the originals; behaviour
unchanged):
`utils/convert.py`: the parameter `async` (a keyword since Python 3.7) becomes
`non_blocking`; `layers/rnncells.py`: the import of `torch.nn._functions.thnn` (removed in
torch 1.0, its names unused) is dropped; `utils/pad.py`: the padding rows are made on
the tensor's own device instead of always `.cuda()` (which fails without a GPU).
`nltk`, `tensorboardX` and `gensim`, imported for
vocabulary building, logging and embedding metrics we do not call, are stubbed.
"""
import argparse
import json
import os
import pickle
import random
import shutil
import sys
import time
import types

AUTHORS_REPO = "ctr4si/A-Hierarchical-Latent-Structure-for-Variational-Conversation-Modeling"
# Their special tokens, at the ids ours have (<pad> 0, <unk> 1, <s> 2, </s> 3).
AUTHORS_SPECIALS = ("<pad>", "<unk>", "<sos>", "<eos>")
SPLITS = {"train": "train", "validation": "valid", "test": "test"}  # ours -> theirs
PATCHES = (  # (file under model/, their text, ours); each must match exactly once
    ("utils/convert.py", "def to_var(x, on_cpu=False, gpu_id=None, async=False):",
     "def to_var(x, on_cpu=False, gpu_id=None, non_blocking=False):"),
    ("utils/convert.py", "x = x.cuda(gpu_id, async)", "x = x.cuda(gpu_id, non_blocking)"),
    ("layers/rnncells.py",
     "from torch.nn._functions.thnn.rnnFusedPointwise import LSTMFused, GRUFused\n", ""),
    ("utils/pad.py", "torch.zeros(length - var.size(0), *var.size()[1:]).cuda()",
     "torch.zeros(length - var.size(0), *var.size()[1:]).to(var.device)"),
    ("utils/pad.py", "torch.zeros(length - tensor.size(0), *tensor.size()[1:]).cuda()",
     "torch.zeros(length - tensor.size(0), *tensor.size()[1:]).to(tensor.device)"),
)
ROWS = {"vhcr_ud": "VHCR", "vhred_wd": "VHRED", "vhred": "VHRED", "vhred_ud": "VHRED",
        "vhred_bow": "VHRED", "hred": "HRED"}


# ----- our data -> their format (no torch needed) --------------------------------------------
def to_authors_split(conversations, vocab):
    """Our conversations (lists of utterances, each token ids ending with </s>) as their
    split pickles: (sentences, sentence_length, conversation_length). A sentence is its
    words, <eos>, then <pad> up to the longest utterance, as their `pad_sentences`."""
    words = list(AUTHORS_SPECIALS) + list(vocab[len(AUTHORS_SPECIALS):])
    width = max(len(u) for c in conversations for u in c)
    sentences, sentence_length, conversation_length = [], [], []
    for conversation in conversations:
        sentences.append([[words[i] for i in utterance] + ["<pad>"] * (width - len(utterance))
                          for utterance in conversation])
        sentence_length.append([len(utterance) for utterance in conversation])
        conversation_length.append(len(conversation))
    return sentences, sentence_length, conversation_length


def from_authors_split(sentences, sentence_length, conversation_length, word2id):
    """Their split pickles back to our conversations of token ids (the round trip)."""
    out = []
    for conversation, lengths, count in zip(sentences, sentence_length, conversation_length):
        out.append([[word2id[w] for w in sentence[:length]]
                    for sentence, length in zip(conversation[:count], lengths)])
    return out


def authors_vocabulary(vocab):
    """(word2id, id2word) with our ids and their special tokens."""
    words = list(AUTHORS_SPECIALS) + list(vocab[len(AUTHORS_SPECIALS):])
    return {w: i for i, w in enumerate(words)}, dict(enumerate(words))


def read_conversations(data_dir, split):
    """Every conversation of one split of our preprocessed TFRecords, as token-id lists
    ending with </s>, in file order."""
    import tensorflow as tf

    from preprocessing import schema
    from preprocessing.codec import with_eos
    files = sorted(tf.io.gfile.glob(os.path.join(data_dir, split, "*.tfrecord")))
    if not files:
        raise SystemExit(f"error: {data_dir} has no {split}/*.tfrecord files; preprocess it "
                         "with python -m preprocessing.run ... --max_slice_words 0")
    out = []
    for example in tf.data.TFRecordDataset(files).map(schema.parse_example):
        out.append(with_eos(example[schema.UTTERANCES]).to_list())
    return out


def row_settings(study_name, row, data_dir):
    """The study row's converged-scale settings, in the words `run` needs."""
    from pipeline import data, study
    st = study.STUDIES[study_name]
    stats = data.load_stats(data_dir)
    config, _, _ = study.row_config(st, row, data_dir, "small", stats,
                                    len(data.load_vocabulary(data_dir)))
    m, t = config.model, config.train
    return {"row": row, "model": ROWS[row], "embedding_size": m.embedding_dim,
            # their utterance encoder is bidirectional: two halves of our utterance vector
            "encoder_hidden_size": m.utterance_units // 2, "bidirectional": True,
            "context_size": m.context_units, "decoder_hidden_size": m.decoder_units,
            "z_sent_size": m.latent_dim, "z_conv_size": m.conv_latent_dim,
            "word_drop": m.word_drop, "sentence_drop": m.utterance_drop, "bow": m.bow_loss,
            "batch_size": config.data.batch_size, "learning_rate": t.learning_rate,
            "warmup_steps": t.warmup_steps, "clip": t.clipnorm,
            "kl_annealing_iter": max(1, m.kl_annealing_steps),
            "validate_every": t.steps_per_epoch, "patience": t.early_stopping_patience,
            "early_stopping_start_step": t.early_stopping_start_step,
            "max_steps": t.epochs * t.steps_per_epoch, "seed": t.seed,
            "study": study_name}


def convert(args):
    from pipeline import data, study
    st = study.STUDIES[args.study]
    data_dir = args.data or st.default_data_dir
    vocab = data.load_vocabulary(data_dir)
    os.makedirs(args.out, exist_ok=True)
    word2id, id2word = authors_vocabulary(vocab)
    _pickle(word2id, os.path.join(args.out, "word2id.pkl"))
    _pickle(id2word, os.path.join(args.out, "id2word.pkl"))
    for ours, theirs in SPLITS.items():
        folder = os.path.join(args.out, theirs)
        os.makedirs(folder, exist_ok=True)
        sentences, lengths, counts = to_authors_split(read_conversations(data_dir, ours), vocab)
        _pickle(sentences, os.path.join(folder, "sentences.pkl"))
        _pickle(lengths, os.path.join(folder, "sentence_length.pkl"))
        _pickle(counts, os.path.join(folder, "conversation_length.pkl"))
        print(f"{theirs}: {len(counts)} conversations")
    settings = row_settings(args.study, args.row, data_dir)
    _write_json(os.path.join(args.out, "settings.json"), settings)
    print(f"Wrote {args.out} (their pickles and settings.json for {args.row})")


def _pickle(obj, path):
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def _load_pickle(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def _write_json(path, obj):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
    os.replace(partial, path)


# ----- their code, trained under our regime (torch environment) -----------------------------
def patched_code(code_dir, work):
    """Their `model/` folder copied into `work` with the edits of PATCHES."""
    source = os.path.join(code_dir, "model")
    if not os.path.isfile(os.path.join(source, "models.py")):
        raise SystemExit(f"error: --code {code_dir}: no model/models.py; give a checkout of "
                         f"{AUTHORS_REPO}")
    target = os.path.join(work, "authors_code")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    for name, old, new in PATCHES:
        path = os.path.join(target, name)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if text.count(old) != 1:
            raise SystemExit(f"error: {name} of {code_dir} does not hold {old!r} once; this "
                             "harness knows the repository's last commit (83ca9dd)")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace(old, new))
    return target


def _stub_unused_modules():
    from collections import Counter
    stubs = {"nltk": {"FreqDist": Counter, "word_tokenize": str.split},
             "tensorboardX": {"SummaryWriter": object}, "gensim": {}}
    for name, attributes in stubs.items():
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__dict__.update(attributes)
            sys.modules[name] = module


class KLRecorder:
    """Wraps their `normal_kl_div` to keep each call's result: VHCR's forward calls it for
    z_conv, then z_utt; VHRED's for z_utt."""

    def __init__(self, models_module):
        self.calls = []
        real = models_module.normal_kl_div
        models_module.normal_kl_div = lambda *a, **k: self._keep(real(*a, **k))

    def _keep(self, value):
        self.calls.append(value.detach())
        return value


def run(args):
    import numpy as np
    import torch
    settings_path = os.path.join(args.work, "settings.json")
    with open(settings_path, encoding="utf-8") as f:
        s = json.load(f)
    torch.set_num_threads(args.threads)
    code = patched_code(args.code, args.work)
    sys.path.insert(0, code)
    _stub_unused_modules()
    import configs as their_configs
    import models as their_models
    from layers import masked_cross_entropy
    from solver import Solver
    from utils import Vocab

    vocab = Vocab()
    vocab.load(os.path.join(args.work, "word2id.pkl"), os.path.join(args.work, "id2word.pkl"))
    their_configs.save_dir = __import__("pathlib").Path(args.work) / "unused"
    their_configs.data_dict["reference"] = __import__("pathlib").Path(args.work)
    argv, sys.argv = sys.argv, sys.argv[:1]  # their get_config parses the command line
    config = their_configs.get_config(
        parse=False, mode="train", data="reference", model=s["model"],
        batch_size=s["batch_size"], learning_rate=s["learning_rate"], clip=s["clip"],
        embedding_size=s["embedding_size"], encoder_hidden_size=s["encoder_hidden_size"],
        bidirectional=s["bidirectional"], context_size=s["context_size"],
        decoder_hidden_size=s["decoder_hidden_size"], z_sent_size=s["z_sent_size"],
        z_conv_size=s["z_conv_size"], word_drop=s["word_drop"],
        sentence_drop=s["sentence_drop"], bow=s["bow"],
        kl_annealing_iter=s["kl_annealing_iter"])
    sys.argv = argv
    config.vocab_size = vocab.vocab_size

    def split(name):
        folder = os.path.join(args.work, name)
        sentences = _load_pickle(os.path.join(folder, "sentences.pkl"))
        return [([vocab.sent2id(sentence) for sentence in c], n, lengths)
                for c, n, lengths in zip(sentences,
                                         _load_pickle(os.path.join(folder,
                                                                   "conversation_length.pkl")),
                                         _load_pickle(os.path.join(folder,
                                                                   "sentence_length.pkl")))]
    train, valid = split("train"), split("valid")

    seed = s["seed"]
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    solver = Solver(config, None, None, vocab=vocab, is_train=False)
    solver.build(cuda=False)  # their model and initialisation
    model = solver.model
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                                 lr=s["learning_rate"])
    recorder = KLRecorder(their_models)
    checkpoint = os.path.join(args.work, "checkpoint.pt")
    state = {"step": 0, "kl_mult": 0.0, "epoch": 0, "position": 0, "curve": {},
             "best": None, "wait": 0, "seconds": 0.0, "finished": None}
    if os.path.isfile(checkpoint):
        saved = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state = saved["state"]
        random.setstate(saved["random"])
        np.random.set_state(saved["numpy"])
        torch.set_rng_state(saved["torch"])
        print(f"resuming at step {state['step']}")
    if state["finished"]:
        print(f"finished: {state['finished']}")
        return

    def batches(epoch):
        order = np.random.RandomState(seed * 1000 + epoch).permutation(len(train))
        for start in range(0, len(order) - s["batch_size"] + 1, s["batch_size"]):
            # their collate_fn: sorted by conversation length, longest first
            yield sorted((train[i] for i in order[start:start + s["batch_size"]]),
                         key=lambda x: x[1], reverse=True)

    def tensors(batch):
        conversations, conversation_length, sentence_length = zip(*batch)
        target_conversations = [conv[1:] for conv in conversations]
        return target_conversations, (
            torch.LongTensor([sent for conv in conversations for sent in conv]),
            torch.LongTensor([n for lengths in sentence_length for n in lengths]),
            torch.LongTensor([n - 1 for n in conversation_length]),
            torch.LongTensor([sent for conv in target_conversations for sent in conv])), \
            torch.LongTensor([n for lengths in sentence_length for n in lengths[1:]])

    def evaluate(drop_on):
        """Their evaluate(): model.eval(), weight 1 on the KL; per word on the split."""
        model.eval()
        kept = config.sentence_drop
        config.sentence_drop = kept if drop_on else 0.0
        sums = {"recon": 0.0, "kl_conv": 0.0, "kl_utt": 0.0, "words": 0.0}
        with torch.no_grad():
            for start in range(0, len(valid), s["batch_size"]):
                batch = sorted(valid[start:start + s["batch_size"]], key=lambda x: x[1],
                               reverse=True)
                _, inputs, target_length = tensors(batch)
                recorder.calls.clear()
                logits, _, _, _ = model(*inputs)
                recon, words = masked_cross_entropy(logits, inputs[3], target_length)
                kls = [float(k.sum()) for k in recorder.calls]
                sums["recon"] += float(recon)
                sums["words"] += float(words)
                if s["model"] == "VHCR":
                    sums["kl_conv"] += kls[0]
                sums["kl_utt"] += kls[-1] if kls else 0.0
        config.sentence_drop = kept
        model.train()
        w = max(sums["words"], 1.0)
        return {"nll_bound": (sums["recon"] + sums["kl_conv"] + sums["kl_utt"]) / w,
                "recon": sums["recon"] / w, "kl_conv": sums["kl_conv"] / w,
                "kl_utt": sums["kl_utt"] / w}

    def record(values):
        for key, value in values.items():
            state["curve"].setdefault(key, []).append(value)
        source = {"repository": AUTHORS_REPO, "edits": [p[:2] for p in PATCHES]}
        _write_json(args.results, {
            "row": s["row"], "source": source, "settings": s, "curve": state["curve"],
            "finished": state["finished"], "train_seconds": round(state["seconds"], 1),
            "seconds_per_step": round(state["seconds"] / max(state["step"], 1), 3),
            "note": "the VHCR authors' PyTorch code (their model, initialisation, loss and "
                    "update) on our preprocessed conversations at this study's sizes and "
                    "schedule; val_* with utterance drop off, val_*_udrop_on as their "
                    "evaluate() runs"})

    model.train()
    epoch_start = time.time()
    while state["step"] < s["max_steps"]:
        for i, batch in enumerate(batches(state["epoch"])):
            if i < state["position"]:
                continue
            targets, inputs, target_length = tensors(batch)
            if s["warmup_steps"]:
                for group in optimizer.param_groups:
                    group["lr"] = s["learning_rate"] * min(1.0, (state["step"] + 1)
                                                           / s["warmup_steps"])
            optimizer.zero_grad()
            recorder.calls.clear()
            logits, kl_div, _, _ = model(*inputs)
            recon, _ = masked_cross_entropy(logits, inputs[3], target_length)
            loss = recon + state["kl_mult"] * kl_div
            if config.bow:
                loss = loss + model.compute_bow_loss(targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            optimizer.step()
            state["kl_mult"] = min(state["kl_mult"] + 1.0 / config.kl_annealing_iter, 1.0)
            state["step"] += 1
            state["position"] = i + 1
            if state["step"] % s["validate_every"] == 0 or state["step"] >= s["max_steps"]:
                state["seconds"] += time.time() - epoch_start
                off, on = evaluate(False), evaluate(True)
                values = {"global_step": state["step"], "kl_weight": state["kl_mult"],
                          **{f"val_{k}": v for k, v in off.items()},
                          **{f"val_{k}_udrop_on": v for k, v in on.items()}}
                print(json.dumps(values), flush=True)
                if state["step"] >= s["early_stopping_start_step"]:
                    if state["best"] is None or off["nll_bound"] < state["best"]:
                        state["best"], state["wait"] = off["nll_bound"], 0
                    else:
                        state["wait"] += 1
                if state["wait"] >= s["patience"]:
                    state["finished"] = {"step": state["step"], "reason": "early stopping"}
                elif state["step"] >= s["max_steps"]:
                    state["finished"] = {"step": state["step"], "reason": "all planned steps"}
                record(values)
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "state": state, "random": random.getstate(),
                            "numpy": np.random.get_state(), "torch": torch.get_rng_state()},
                           checkpoint + ".partial")
                os.replace(checkpoint + ".partial", checkpoint)
                epoch_start = time.time()
                if state["finished"]:
                    print(f"finished: {state['finished']}")
                    return
        state["epoch"] += 1
        state["position"] = 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="benchmarks/reference_vhcr.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("convert", help="our data in their format (our environment)")
    c.add_argument("--study", default="vhcr_dailydialog")
    c.add_argument("--row", default="vhcr_ud", choices=sorted(ROWS))
    c.add_argument("--data", help="preprocessed whole conversations (default: the study's)")
    c.add_argument("--out", required=True, help="their data folder (outside the repository)")
    r = commands.add_parser("run", help="train their code (the torch environment)")
    r.add_argument("--code", required=True, help=f"a checkout of {AUTHORS_REPO}")
    r.add_argument("--work", required=True, help="the folder `convert` wrote")
    r.add_argument("--results", required=True, help="the curve's JSON, e.g. "
                   "results/vhcr_dailydialog/reference/vhcr_ud.json")
    r.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    (convert if args.command == "convert" else run)(args)


if __name__ == "__main__":
    main()
