"""Latent-space tools: the VHCR paper's Tables 6-7 and the CO paper's Figure 3.

    python -m pipeline.latent interpolate --model_dir runs/vhcr_ud [--context "hi ."]
    python -m pipeline.latent fixed_zconv --model_dir runs/vhcr_ud [--conversations 10]
    python -m pipeline.latent embedding --model_dir runs/co_ss --context "how are you ?" \\
        --out figures/

- interpolate: two z_conv drawn from the prior N(0, I), and a 3-turn conversation
  generated at each point of the line between them (VHCR Table 6). Our models decode
  responses, never the first utterance, so every conversation continues the same opening
  (`--context`, or the first utterance of a test slice).
- fixed_zconv: many 3-turn conversations under one z_conv from the prior; they differ by
  their z_utt draws (VHCR Table 7).
- embedding: for one context, the 10 training contexts closest to it (cosine of the
  context RNN's state), 10 posterior samples of the response latent for each of their
  gold responses, and 100 prior samples for the query context (CO Figure 3), written as a
  TensorBoard projector embedding with metadata and as a t-SNE PNG.
"""
from preprocessing import cli

if __name__ == "__main__":  # run as a tool: quiet before TensorFlow or Beam loads
    cli.quiet_unless_verbose()

import argparse
import json
import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from keras_models.decoding import converse, respond
from pipeline import data
from pipeline.restore import TrainedRun, load_run
from preprocessing.codec import ids_to_text
from preprocessing.constants import PAD_ID
from preprocessing.files import write_json_atomic


def opening(run: TrainedRun, text: str | None, split: str = "test") -> np.ndarray:
    """[1, T, L] ids of the given utterances (" __eou__ "-separated), or of the first
    utterance of the first slice of `split`."""
    if text:
        return run.codec.encode_context(text.split(" __eou__ "))
    batch = next(iter(data.make_dataset(run.config.data.data_dir, split, 1, training=False)))
    return batch["utterances"][:, :1].numpy()


def generate_conversation(run: TrainedRun, context: tf.Tensor | np.ndarray, turns: int,
                          z_conv: tf.Tensor | np.ndarray | None = None) -> list[tf.Tensor]:
    """`turns` greedy responses of `run` (as long as its data's utterances) under one
    z_conv, each fed back as context (z_utt drawn from its prior)."""
    options = run.decode_options()
    return converse(lambda ctx, z: respond(run.model, ctx, options, z),
                    tf.constant(context, tf.int32), turns, z_conv)


def _require_vhcr(run):
    if run.config.model.architecture != "vhcr":
        raise ValueError(f"--model_dir {run.model_dir} is a {run.config.model.architecture} "
                         f"model; z_conv tools need a VHCR model")


def interpolate(run: TrainedRun, context: np.ndarray, points: int = 5, turns: int = 3,
                seed: int = 1) -> list[dict]:
    """VHCR: conversations along the line between two z_conv draws."""
    _require_vhcr(run)
    rng = np.random.default_rng(seed)
    dim = run.config.model.conv_latent_dim
    start, end = rng.standard_normal([2, 1, dim]).astype(np.float32)
    rows = []
    for alpha in np.linspace(0.0, 1.0, points):
        z_conv = (1 - alpha) * start + alpha * end
        responses = generate_conversation(run, context, turns, z_conv)
        rows.append({"alpha": float(alpha),
                     "responses": [ids_to_text(r[0], run.vocab) for r in responses]})
    return rows


def fixed_zconv(run: TrainedRun, context: np.ndarray, conversations: int = 10,
                turns: int = 3, seed: int = 1) -> list[list[str]]:
    """VHCR: several conversations under one z_conv (only z_utt varies)."""
    _require_vhcr(run)
    rng = np.random.default_rng(seed)
    z_conv = rng.standard_normal([1, run.config.model.conv_latent_dim]).astype(np.float32)
    return [[ids_to_text(r[0], run.vocab)
             for r in generate_conversation(run, context, turns, z_conv)]
            for _ in range(conversations)]


def training_pairs(run: TrainedRun, pool: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to `pool` (context [T, L], response [L]) pairs: each training slice's last
    utterance and the utterances before it."""
    contexts, responses = [], []
    for batch in data.make_dataset(run.config.data.data_dir, "train", 64, training=False):
        utterances = batch["utterances"].numpy()
        for row in utterances:
            n = int((row[:, 0] != PAD_ID).sum())
            if n >= 2:
                contexts.append(row[:n - 1])
                responses.append(row[n - 1])
        if len(contexts) >= pool:
            break
    return contexts[:pool], responses[:pool]


def _pad_stack(arrays):
    shape = np.max([a.shape for a in arrays], axis=0)
    out = np.zeros([len(arrays), *shape], np.int32)
    for i, a in enumerate(arrays):
        out[(i, *map(slice, a.shape))] = a
    return out


def nearest_contexts(run: TrainedRun, query: np.ndarray, contexts: np.ndarray, k: int
                     ) -> np.ndarray:
    """Indices of the `k` contexts whose context state is most cosine-similar to the query's."""
    states = []
    for start in range(0, len(contexts), 64):
        state, _ = run.model.context_state(_pad_stack(contexts[start:start + 64]))
        states.append(state.numpy())
    states = np.concatenate(states)
    target = run.model.context_state(query)[0].numpy()[0]
    similarity = states @ target / (np.linalg.norm(states, axis=1) * np.linalg.norm(target)
                                    + 1e-9)
    return np.argsort(-similarity)[:k]


def latent_cloud(run: TrainedRun, query: np.ndarray, neighbours: int = 10,
                 posterior_samples: int = 10, prior_samples: int = 100,
                 pool: int = 2000) -> tuple[np.ndarray, list[dict]]:
    """(vectors [N, Dz], metadata rows) for the CO-Figure-3 plot."""
    contexts, responses = training_pairs(run, pool)
    if not contexts:
        raise ValueError("the training split has no slice with a context and a response")
    vectors, metadata = [], []
    prior = run.model.latent_samples(query, samples=prior_samples).numpy()
    vectors.append(prior)
    metadata += [("prior (query context)", "") for _ in range(len(prior))]
    for rank, index in enumerate(nearest_contexts(run, query, contexts, neighbours)):
        posterior = run.model.latent_samples(contexts[index][None], responses[index][None],
                                             samples=posterior_samples).numpy()
        vectors.append(posterior)
        label = f"posterior, neighbour {rank + 1}"
        text = ids_to_text(responses[index], run.vocab)
        metadata += [(label, text) for _ in range(len(posterior))]
    return np.concatenate(vectors).astype(np.float32), metadata


def nn_separability(vectors: np.ndarray, metadata: list[dict]) -> float:
    """Leave-one-out 1-nearest-neighbour accuracy at telling prior samples from posterior
    ones (Friedman-Rafsky style two-sample test): 0.5 = the clouds overlap fully, 1.0 =
    they are apart. Measured in the latent space, not on the t-SNE map."""
    is_prior = np.array([group.startswith("prior") for group, _ in metadata])
    distances = ((vectors[:, None, :] - vectors[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    nearest = distances.argmin(1)
    return float((is_prior[nearest] == is_prior).mean())


def write_projector(out_dir: str, vectors: np.ndarray, metadata: list[dict]) -> None:
    """A TensorBoard projector embedding (checkpoint + metadata.tsv + config), with an
    event file beside it: TensorBoard's projector reads configs only in the folders it
    lists as runs, and a folder is a run when it holds an event file."""
    from tensorboard.plugins import projector
    os.makedirs(out_dir, exist_ok=True)
    writer = tf.summary.create_file_writer(out_dir)
    with writer.as_default():
        tf.summary.text("latent_projector", f"{len(vectors)} latent samples", step=0)
    writer.close()
    with open(os.path.join(out_dir, "metadata.tsv"), "w", encoding="utf-8") as f:
        f.write("group\tresponse\n")
        for group, text in metadata:
            f.write(f"{group}\t{text.replace(chr(9), ' ')}\n")
    embedding = tf.Variable(vectors, name="latent_samples")
    checkpoint = tf.train.Checkpoint(embedding=embedding)
    checkpoint.save(os.path.join(out_dir, "embedding.ckpt"))
    config = projector.ProjectorConfig()
    entry = config.embeddings.add()
    entry.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
    entry.metadata_path = "metadata.tsv"
    projector.visualize_embeddings(out_dir, config)


def write_tsne_png(path: str, vectors: np.ndarray, metadata: list[dict], seed: int = 1
                   ) -> None:
    """2-D t-SNE of the samples, coloured by group (prior vs each neighbour)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE
    points = TSNE(n_components=2, perplexity=min(30.0, len(vectors) - 1.0),
                  random_state=seed, init="pca").fit_transform(vectors)
    groups = list(dict.fromkeys(group for group, _ in metadata))
    figure, axes = plt.subplots(figsize=(7, 6))
    for i, group in enumerate(groups):
        mask = np.array([g == group for g, _ in metadata])
        axes.scatter(points[mask, 0], points[mask, 1], s=10 if i else 6, label=group,
                     marker="." if i == 0 else "o", alpha=0.6 if i == 0 else 0.9)
    axes.legend(fontsize=6, loc="best")
    axes.set_title("response latents: prior samples vs posterior samples of neighbours")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.base_parser("python -m pipeline.latent", __doc__)
    parser.add_argument("command", choices=("interpolate", "fixed_zconv", "embedding"))
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--checkpoint", default="best")
    parser.add_argument("--context", help='utterances separated by " __eou__ "')
    parser.add_argument("--points", type=int, default=5, help="interpolation points")
    parser.add_argument("--conversations", type=int, default=10)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--neighbours", type=int, default=10)
    parser.add_argument("--posterior_samples", type=int, default=10)
    parser.add_argument("--prior_samples", type=int, default=100)
    parser.add_argument("--pool", type=int, default=2000,
                        help="training contexts searched for neighbours")
    parser.add_argument("--out", help="embedding: output folder (default MODEL_DIR/latent)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    cli.run_tool(lambda: run_command(args), errors=(ValueError,))


def run_command(args: argparse.Namespace) -> None:
    """One latent tool (interpolate, fixed_zconv or embedding) on a parsed command line."""
    run = load_run(args.model_dir, args.checkpoint)
    tf.random.set_seed(args.seed)
    context = opening(run, args.context)
    if args.command == "interpolate":
        result = interpolate(run, context, args.points, args.turns, args.seed)
    elif args.command == "fixed_zconv":
        result = fixed_zconv(run, context, args.conversations, args.turns, args.seed)
    else:
        out = args.out or os.path.join(args.model_dir, "latent")
        os.makedirs(out, exist_ok=True)
        vectors, metadata = latent_cloud(run, context, args.neighbours,
                                         args.posterior_samples, args.prior_samples,
                                         args.pool)
        # Beside the run's training logs, so `tensorboard --logdir MODEL_DIR` shows it.
        projector_dir = os.path.join(args.model_dir, "logs", "latent_projector")
        write_projector(projector_dir, vectors, metadata)
        write_tsne_png(os.path.join(out, "tsne.png"), vectors, metadata, args.seed)
        result = {"samples": len(vectors), "projector": projector_dir,
                  "png": os.path.join(out, "tsne.png"),
                  "nn_separability": nn_separability(vectors, metadata),
                  "tensorboard": f"tensorboard --logdir {args.model_dir}"}
        write_json_atomic(os.path.join(out, "summary.json"), result)
    context_text = " __eou__ ".join(ids_to_text(u, run.vocab) for u in context[0])
    print(json.dumps({"context": context_text, "result": result}, indent=2))


if __name__ == "__main__":
    main()
