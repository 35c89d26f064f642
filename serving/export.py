"""Export a trained model as a SavedModel that stock TensorFlow Serving 2.20 can serve.

    python -m serving.export --model_dir runs/co_ss --export_base models/co_ss

Raw text in, responses out. Tokenisation (`preprocessing.text.tokenize`, the function the
Beam job uses) and the vocabulary table are inside the graph, so no Python of ours runs on
the server. Signatures (a context is a row of a [batch, turns] string tensor, padded with
""):

  serving_default  context -> response [B], score [B] (greedy; latents at their prior
                   means, so the "best" response is deterministic)
  beam             context, beam_size (int32, 1..MAX_BEAM) -> responses [B, k], scores
                   (length-normalised with --length_alpha, by default the run's
                   decoding.length_alpha, 0.6)
  sample           context, num_samples (1..MAX_SAMPLES), temperature -> responses [B, n],
                   scores (latents sampled)
  score            context, response [B] -> nll, words, nll_per_word [B] (the per-word
                   ELBO bound of the response for latent models)
  encode           context -> mean, log_variance [B, Dz] of the response latent's prior
                   (latent models only)

Scores are log-probabilities in nats. Inputs are bounded: only the last `--max_turns`
non-empty turns are kept, utterances are cut to the word cap the training data was
preprocessed with (`--max_utterance_words` of `preprocessing.run`, 30 by default; read
from the run) and 2,000 characters before tokenising, responses to that cap + </s>,
invalid UTF-8 becomes U+FFFD, and an empty context gives an empty response
with score 0. The export is traced on the CPU (a graph traced on a GPU holds cuDNN kernels
a CPU server cannot run); the module tracks the variables themselves, not the Keras model,
so TF Serving's session-based C++ loader can restore them. Versions are integers under
--export_base, never overwritten; assets.extra/tf_serving_warmup_requests warms the
server up on load.
"""
from preprocessing import cli

if __name__ == "__main__":  # run as a tool: quiet before TensorFlow or Beam loads
    cli.quiet_unless_verbose()

import os
import shutil
from collections.abc import Iterable, Sequence

import tensorflow as tf

from keras_models.conversation_model import ConversationModel
from keras_models.decoding import DecodeOptions, append_utterance, decode, response_tokens
from pipeline.restore import TrainedRun, load_run
from preprocessing.codec import lookup_table
from preprocessing.constants import EOS_ID, PAD_ID
from preprocessing.limits import MAX_BEAM, MAX_SAMPLES
from serving import model_card

CHARS_PER_WORD = 70  # the character cap before tokenising: 2,100 for 30 words
WARMUP_FILE = "tf_serving_warmup_requests"
CONTEXT_SPEC = tf.TensorSpec([None, None], tf.string, name="context")


class _Untracked:
    """Holds the Keras model out of the SavedModel's object graph (only its variables go in)."""

    def __init__(self, model):
        self.model = model


class ServingModule(tf.Module):
    def __init__(self, run: TrainedRun, max_turns: int = 10,
                 length_alpha: float | None = None) -> None:
        super().__init__(name="dialogvae")
        self._keras = _Untracked(run.model)
        # Tracking the tf.Variables (not the Keras objects) keeps the export loadable by
        # the TF1 session loader that TF Serving uses.
        self.model_variables = [v.value if hasattr(v, "value") else v
                                for v in run.model.variables]
        self.vocab_asset = tf.saved_model.Asset(os.path.join(run.model_dir, "vocab.txt"))
        self.table = lookup_table(self.vocab_asset)
        self.words = tf.constant(run.vocab)
        self._codec = run.codec  # the run's vocabulary and word cap (plain Python)
        self.max_turns = max_turns
        self.max_words = self._codec.max_words  # the data's cap, not a constant here
        self.max_response_tokens = response_tokens(self.max_words)
        self.length_alpha = (run.config.decoding.length_alpha if length_alpha is None
                             else length_alpha)
        self.has_latent = bool(run.model.latent_names)
        if self.has_latent:  # (saving traces every tf.function the module holds)
            self.serve_encode = tf.function(self._encode, input_signature=[CONTEXT_SPEC])

    @property
    def model(self) -> ConversationModel:
        return self._keras.model

    # ----- text <-> ids ----------------------------------------------------------------
    def _utterance_ids(self, texts):
        """[N] strings -> ragged [N, (words + 1)] int32 ids ending in </s>."""
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace",
                                             replacement_char=0xFFFD)
        texts = tf.strings.substr(texts, 0, CHARS_PER_WORD * self.max_words,
                                  unit="UTF8_CHAR")
        return self._codec.tf_encode(texts, self.table)

    def _context_ids(self, context, keep_turns):
        """[B, turns] strings -> ([B, T >= 1, L] ids, has_context [B]). Empty turns are
        dropped, the last `keep_turns` kept; a row with no turn gets a lone </s>."""
        context = tf.strings.unicode_transcode(context, "UTF-8", "UTF-8", errors="replace",
                                               replacement_char=0xFFFD)
        turns = tf.ragged.boolean_mask(context, tf.strings.strip(context) != "")
        turns = turns[:, -keep_turns:]
        has_context = turns.row_lengths() > 0
        ids = self._utterance_ids(turns.flat_values).to_tensor()
        dense = tf.RaggedTensor.from_row_splits(ids, turns.row_splits).to_tensor()
        dense = tf.pad(dense, [[0, 0], [0, tf.maximum(1 - tf.shape(dense)[1], 0)],
                               [0, tf.maximum(1 - tf.shape(dense)[2], 0)]])
        lone_eos = tf.one_hot(0, tf.shape(dense)[2], on_value=EOS_ID, off_value=PAD_ID,
                              dtype=tf.int32)
        first = tf.where(has_context[:, None], dense[:, 0], lone_eos[None])
        dense = tf.concat([first[:, None], dense[:, 1:]], 1)
        return dense, has_context

    def _text(self, ids):
        """[..., L] ids -> [...] strings: words up to </s>, joined by spaces."""
        return self._codec.tf_text(ids, self.words)

    # ----- signatures ----------------------------------------------------------------------
    @tf.function(input_signature=[CONTEXT_SPEC])
    def serve_greedy(self, context: tf.Tensor) -> dict[str, tf.Tensor]:
        utterances, has_context = self._context_ids(context, self.max_turns)
        condition = self.model.response_condition(utterances, sample_latents=False)
        ids, scores = decode(self.model, condition, DecodeOptions(self.max_response_tokens))
        return {"response": tf.where(has_context, self._text(ids[:, 0]), ""),
                "score": tf.where(has_context, scores[:, 0], 0.0)}

    @tf.function(input_signature=[CONTEXT_SPEC,
                                  tf.TensorSpec([], tf.int32, name="beam_size")])
    def serve_beam(self, context: tf.Tensor, beam_size: tf.Tensor) -> dict[str, tf.Tensor]:
        utterances, has_context = self._context_ids(context, self.max_turns)
        condition = self.model.response_condition(utterances, sample_latents=False)

        def branch(size):
            def search():
                ids, scores = decode(self.model, condition, DecodeOptions(
                    self.max_response_tokens, "beam", size, self.length_alpha))
                pad = MAX_BEAM - size  # one output shape for every branch
                return (tf.pad(self._text(ids), [[0, 0], [0, pad]]),
                        tf.pad(scores, [[0, 0], [0, pad]], constant_values=-1e9))
            return search

        index = tf.clip_by_value(beam_size, 1, MAX_BEAM) - 1
        texts, scores = tf.switch_case(index, [branch(k) for k in range(1, MAX_BEAM + 1)])
        texts, scores = texts[:, :index + 1], scores[:, :index + 1]
        return {"responses": tf.where(has_context[:, None], texts, ""),
                "scores": tf.where(has_context[:, None], scores, 0.0)}

    @tf.function(input_signature=[CONTEXT_SPEC,
                                  tf.TensorSpec([], tf.int32, name="num_samples"),
                                  tf.TensorSpec([], tf.float32, name="temperature")])
    def serve_sample(self, context: tf.Tensor, num_samples: tf.Tensor,
                     temperature: tf.Tensor) -> dict[str, tf.Tensor]:
        utterances, has_context = self._context_ids(context, self.max_turns)
        n = tf.clip_by_value(num_samples, 1, MAX_SAMPLES)
        condition = self.model.response_condition(tf.repeat(utterances, n, axis=0))
        ids, scores = decode(self.model, condition, DecodeOptions(
            self.max_response_tokens, "sample", temperature=temperature))
        texts = tf.reshape(self._text(ids[:, 0]), [-1, n])
        scores = tf.reshape(scores, [-1, n])
        return {"responses": tf.where(has_context[:, None], texts, ""),
                "scores": tf.where(has_context[:, None], scores, 0.0)}

    @tf.function(input_signature=[CONTEXT_SPEC, tf.TensorSpec([None], tf.string,
                                                              name="response")])
    def serve_score(self, context: tf.Tensor, response: tf.Tensor) -> dict[str, tf.Tensor]:
        utterances, _ = self._context_ids(context, self.max_turns - 1)
        response_ids = self._utterance_ids(response).to_tensor()
        nll, words = self.model.score_responses(append_utterance(utterances, response_ids))
        return {"nll": nll, "words": words, "nll_per_word": nll / tf.maximum(words, 1.0)}

    def _encode(self, context):
        utterances, _ = self._context_ids(context, self.max_turns)
        state, conversation = self.model.context_state(utterances, sample_latents=False)
        mean, variance = self.model.prior_moments(state, conversation)
        return {"mean": mean, "log_variance": tf.math.log(variance)}

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        signatures = {
            "serving_default": self.serve_greedy.get_concrete_function(),
            "beam": self.serve_beam.get_concrete_function(),
            "sample": self.serve_sample.get_concrete_function(),
            "score": self.serve_score.get_concrete_function(),
        }
        if self.has_latent:
            signatures["encode"] = self.serve_encode.get_concrete_function()
        return signatures


def next_version(export_base: str) -> int:
    """1 + the largest integer version folder (TF Serving's layout); 1 for a new base."""
    versions = [int(name) for name in (os.listdir(export_base) if os.path.isdir(export_base)
                                       else []) if name.isdigit()]
    return max(versions, default=0) + 1


def write_warmup_requests(path: str, model_name: str, signatures: Iterable[str]) -> None:
    """assets.extra/tf_serving_warmup_requests: one PredictRequest per signature."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
    examples = {
        "serving_default": {"context": [["hello , how are you ?", "i'm fine , thanks ."]]},
        "beam": {"context": [["hello , how are you ?"]], "beam_size": 2},
        "sample": {"context": [["hello , how are you ?"]], "num_samples": 2,
                   "temperature": 1.0},
        "score": {"context": [["hello , how are you ?"]], "response": ["fine , thanks ."]},
        "encode": {"context": [["hello , how are you ?"]]},
    }
    dtypes = {"beam_size": tf.int32, "num_samples": tf.int32, "temperature": tf.float32}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for name in signatures:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=name))
            for key, value in examples[name].items():
                request.inputs[key].CopyFrom(
                    tf.make_tensor_proto(value, dtype=dtypes.get(key, tf.string)))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def write_models_config(models_root: str) -> str:
    """models.config for serving every model under `models_root` from one server
    (paths as mounted in the container: /models/NAME)."""
    names = sorted(name for name in os.listdir(models_root)
                   if os.path.isdir(os.path.join(models_root, name))
                   and any(v.isdigit() for v in os.listdir(os.path.join(models_root, name))))
    entries = "".join(f'  config {{\n    name: "{n}"\n    base_path: "/models/{n}"\n'
                      f'    model_platform: "tensorflow"\n  }}\n' for n in names)
    path = os.path.join(models_root, "models.config")
    with open(path, "w", encoding="utf-8") as f:
        f.write("model_config_list {\n" + entries + "}\n")
    return path


def check_export_base(export_base: str) -> None:
    """Refuses a version folder (models/x/1) or a SavedModel as --export_base: versions go
    under it, so models/x/1 would nest models/x/1/1 and serve a model named "1"."""
    base = os.path.normpath(export_base)
    name = os.path.basename(base)
    if name.isdigit() or os.path.isfile(os.path.join(base, "saved_model.pb")):
        parent = os.path.dirname(base) or "."
        raise ValueError(f"--export_base {export_base} is a version folder; give the "
                         f"model's folder above it (--export_base {parent}): versions are "
                         "numbered under it")
    # A file (or a file above) where the folder goes: refused here, with its path, not by
    # TensorFlow's file layer half way through writing the SavedModel.
    existing = os.path.abspath(export_base)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"--export_base {export_base}: {existing} is a file, not a folder; "
                         "give a folder for the model's versions")


def export(model_dir: str, export_base: str, checkpoint: str = "best", max_turns: int = 10,
           model_name: str | None = None, length_alpha: float | None = None,
           argv: Sequence[str] | None = None) -> str:
    """Writes export_base/<next version>/; returns its path."""
    if max_turns < 2:
        raise ValueError("--max_turns must be at least 2 (the score signature needs a "
                         "context turn and the response)")
    check_export_base(export_base)
    run = load_run(model_dir, checkpoint)
    model_name = model_name or os.path.basename(os.path.normpath(export_base))
    with tf.device("/cpu:0"):
        module = ServingModule(run, max_turns, length_alpha)
        signatures = module.signatures()
    version = next_version(export_base)
    final = os.path.join(export_base, str(version))
    staging = os.path.join(export_base, f".partial-{version}")  # servers ignore non-integers
    shutil.rmtree(staging, ignore_errors=True)
    tf.saved_model.save(module, staging, signatures=signatures)
    write_warmup_requests(os.path.join(staging, "assets.extra", WARMUP_FILE), model_name,
                          signatures)
    model_card.write(os.path.join(staging, "assets.extra"), run, module, model_name,
                     sorted(signatures), argv)
    os.replace(staging, final)
    write_models_config(os.path.dirname(os.path.abspath(export_base)))
    return final


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.base_parser("python -m serving.export", __doc__)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--export_base", required=True, help="models/NAME")
    parser.add_argument("--checkpoint", default="best")
    parser.add_argument("--max_turns", type=int, default=10,
                        help="context turns kept (the last ones)")
    parser.add_argument("--model_name", help="the name TF Serving serves it under "
                        "(default: the last folder of --export_base)")
    parser.add_argument("--length_alpha", type=float,
                        help="the beam signature's length normalisation")
    args = parser.parse_args(argv)
    tf.config.set_visible_devices([], "GPU")  # trace a CPU graph, whatever this machine has
    path = cli.run_tool(lambda: export(args.model_dir, args.export_base, args.checkpoint,
                                       args.max_turns, args.model_name, args.length_alpha,
                                       argv), errors=(ValueError,))
    print(f"SavedModel written to {path}")


if __name__ == "__main__":
    main()
