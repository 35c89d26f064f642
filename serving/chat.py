"""Chat with an exported model; the dialogue so far is the context of each response.

    python -m serving.chat --model models/co_ss               # a local SavedModel
    python -m serving.chat --model http://localhost:8501/co_ss  # TF Serving, REST
    python -m serving.chat --model grpc://localhost:8500/co_ss  # TF Serving, gRPC
    python -m serving.chat --model models/co_ss --say "hi ." --say "where are you from ?"

Type a line, get a response; "/reset" starts a new dialogue, "/quit" (or end of input)
leaves. `--decoding beam|sample` uses those signatures. `--say` scripts the user's turns.
Standard input is read as UTF-8; bytes that are not UTF-8 become U+FFFD (as the exported
model does with them), so a stray byte never ends the dialogue.
"""
from preprocessing import cli

if __name__ == "__main__":  # run as a tool: quiet before TensorFlow or Beam loads
    cli.quiet_unless_verbose()

import os
import sys
from collections.abc import Sequence

import numpy as np

from preprocessing.limits import decoding_problems
from serving.client import Contexts, GrpcClient, Outputs, RestClient


def latest_version(path: str) -> str:
    """A SavedModel folder, or the newest integer version under an export base."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = [n for n in os.listdir(path) if n.isdigit()] if os.path.isdir(path) else []
    if not versions:
        raise FileNotFoundError(f"--model {path}: neither a SavedModel nor a folder of "
                                f"versions (run python -m serving.export first)")
    return os.path.join(path, max(versions, key=int))


class LocalModel:
    """The clients' predict() over a SavedModel loaded in this process."""

    def __init__(self, path: str) -> None:
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)
        self.tf = tf
        self.path = latest_version(path)
        self.loaded = tf.saved_model.load(self.path)

    def predict(self, contexts: Contexts, signature: str = "serving_default",
                response: Sequence[str] | None = None, **scalars: float) -> Outputs:
        from serving.client import SCALAR_INPUTS, decode_outputs, request_inputs
        tf = self.tf
        inputs = request_inputs(contexts, {"response": response, **scalars})
        tensors = {name: tf.constant(value, dtype=SCALAR_INPUTS.get(name, tf.string))
                   for name, value in inputs.items()}
        outputs = self.loaded.signatures[signature](**tensors)
        return {name: decode_outputs(value.numpy()) for name, value in outputs.items()}


def open_model(address: str, timeout: float = 10.0) -> LocalModel | RestClient | GrpcClient:
    if "://" in address:
        from serving.client import make_client
        return make_client(address, timeout=timeout)
    return LocalModel(address)


class Chat:
    def __init__(self, backend: LocalModel | RestClient | GrpcClient,
                 decoding: str = "serving_default", max_turns: int = 10, beam_size: int = 5,
                 temperature: float = 1.0) -> None:
        self.backend = backend
        self.decoding = decoding
        self.max_turns = max_turns
        self.options = ({"beam_size": beam_size} if decoding == "beam" else
                        {"num_samples": 1, "temperature": temperature}
                        if decoding == "sample" else {})
        self.history = []

    def reply(self, text: str) -> str:
        self.history.append(text)
        outputs = self.backend.predict([self.history[-self.max_turns:]], self.decoding,
                                       **self.options)
        response = outputs["response"] if "response" in outputs else outputs["responses"]
        response = str(np.asarray(response).reshape(-1)[0])
        self.history.append(response)
        return response


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.base_parser("python -m serving.chat", __doc__)
    parser.add_argument("--model", required=True, help="SavedModel path or server URL")
    parser.add_argument("--decoding", default="serving_default",
                        choices=("serving_default", "beam", "sample"))
    parser.add_argument("--beam_size", type=int, default=5)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max_turns", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--say", action="append", help="a user turn (repeatable); no prompt")
    args = parser.parse_args(argv)
    problems = decoding_problems("--", args.beam_size, args.temperature)
    if problems:
        cli.fail("; ".join(problems))
    # Invalid UTF-8 on standard input becomes U+FFFD instead of ending the dialogue.
    if hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(encoding="utf-8", errors="replace")
    chat = cli.run_tool(lambda: Chat(open_model(args.model, args.timeout), args.decoding,
                                     args.max_turns, args.beam_size, args.temperature),
                        errors=(ValueError,))
    from serving.client import ServingError
    lines = iter(args.say) if args.say else None
    interactive = lines is None and sys.stdin.isatty()
    if interactive:
        print('Type a message ("/reset" for a new dialogue, "/quit" to leave).')
    while True:
        try:
            text = next(lines) if lines is not None else input("you> " if interactive else "")
        except (EOFError, StopIteration, KeyboardInterrupt):
            break
        text = text.strip()
        if text == "/quit":
            break
        if text == "/reset":
            chat.history.clear()
            continue
        if not text:
            continue
        try:
            response = chat.reply(text)
        except ServingError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(1)
        print(f"you> {text}\nbot> {response}" if not interactive else f"bot> {response}")


if __name__ == "__main__":
    main()
