"""Run in a fresh interpreter: load an export with only tensorflow and tensorflow_text,
call every signature (or, with --tf1, serving_default through the TF1 session loader that
TF Serving and saved_model_cli use), and print the outputs as JSON.

    python tests/serving_fresh.py EXPORT_DIR CONTEXTS_JSON [--tf1]
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402,F401  (the tokenizer's ops)


def as_json(value):
    value = value.numpy() if hasattr(value, "numpy") else value
    if value.dtype == object:
        return [v.decode("utf-8") if isinstance(v, bytes) else as_json(v) for v in value]
    return value.tolist()


def run_v2(path, contexts):
    loaded = tf.saved_model.load(path)
    context = tf.constant(contexts)
    responses = tf.constant([row[-1] for row in contexts])
    calls = {
        "serving_default": {"context": context},
        "beam": {"context": context, "beam_size": tf.constant(3)},
        "sample": {"context": context, "num_samples": tf.constant(2),
                   "temperature": tf.constant(0.8)},
        "score": {"context": context, "response": responses},
        "encode": {"context": context},
    }
    out = {name: {k: as_json(v) for k, v in loaded.signatures[name](**calls[name]).items()}
           for name in loaded.signatures}
    return out


def run_tf1(path, contexts):
    with tf.compat.v1.Session(graph=tf.Graph()) as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
        signature = meta.signature_def["serving_default"]
        fetches = {k: v.name for k, v in signature.outputs.items()}
        values = session.run(fetches, {signature.inputs["context"].name: contexts})
    return {"serving_default": {k: as_json(tf.constant(v)) for k, v in values.items()}}


if __name__ == "__main__":
    path, contexts = sys.argv[1], json.loads(sys.argv[2])
    out = run_tf1(path, contexts) if "--tf1" in sys.argv else run_v2(path, contexts)
    ours = sorted(m for m in sys.modules
                  if m.split(".")[0] in ("keras_models", "pipeline", "preprocessing",
                                         "serving"))
    print(json.dumps({"outputs": out, "our_modules": ours}))
