"""SavedModel export for TF Serving: fresh-process and TF1 loading, equality with the
in-process model, warmup replay, hostile inputs, the clients and the chat."""
import concurrent.futures
import json
import os
import shutil
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401

from pipeline.restore import load_run
from preprocessing.codec import ids_to_text
from serving import chat, client, export
from tests.helpers import REPO_ROOT, decode_greedy

pytestmark = pytest.mark.slow  # exports tiny runs and loads them in fresh processes

PRESETS = ("hred", "vhcr_ud", "co_ss")
CONTEXTS = [["hello , how are you ?", "i'm fine , thanks . and you ?"],
            ["where do you live ?", ""],
            ["", ""]]


@pytest.fixture(scope="module")
def exports(trained_runs, tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {preset: export.export(str(trained_runs / preset), str(root / preset))
            for preset in PRESETS}


def fresh(path, *flags):
    result = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "tests", "scripts",
                                                          "serving_fresh.py"),
                             path, json.dumps(CONTEXTS), *flags],
                            cwd=os.path.dirname(path), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def in_process_greedy(run, context):
    ids = run.codec.encode_context([u for u in context if u])
    condition = run.model.response_condition(ids, sample_latents=False)
    return ids_to_text(decode_greedy(run.model, None, condition=condition)[0], run.vocab)


def test_versions_layout_and_models_config(trained_runs, exports, tmp_path):
    base = os.path.dirname(exports["co_ss"])
    assert os.path.basename(exports["co_ss"]) == "1"
    second = export.export(str(trained_runs / "co_ss"), base)
    assert os.path.basename(second) == "2" and os.path.isdir(exports["co_ss"])  # kept
    for name in ("saved_model.pb", "variables", "assets/vocab.txt",
                 f"assets.extra/{export.WARMUP_FILE}"):
        assert os.path.exists(os.path.join(second, name)), name
    config = open(os.path.join(os.path.dirname(base), "models.config")).read()
    for preset in PRESETS:
        assert f'name: "{preset}"' in config and f'base_path: "/models/{preset}"' in config


@pytest.mark.parametrize("preset", PRESETS)
def test_fresh_process_runs_every_signature_and_matches_the_model(trained_runs, exports,
                                                                   preset):
    out = fresh(exports[preset])
    assert out["our_modules"] == []  # nothing of ours was needed to serve
    signatures = out["outputs"]
    expected = {"serving_default", "beam", "sample", "score"} | (
        {"encode"} if preset != "hred" else set())
    assert set(signatures) == expected
    run = load_run(str(trained_runs / preset))
    greedy = signatures["serving_default"]
    for i, context in enumerate(CONTEXTS):
        if any(context):
            assert greedy["response"][i] == in_process_greedy(run, context)
            assert greedy["score"][i] < 0
        else:  # an empty context gets an empty response, not an error
            assert greedy["response"][i] == "" and greedy["score"][i] == 0
    beam = signatures["beam"]
    assert np.array(beam["responses"]).shape == (3, 3)
    assert beam["scores"][0] == sorted(beam["scores"][0], reverse=True)
    assert np.array(signatures["sample"]["responses"]).shape == (3, 2)
    score = signatures["score"]
    assert all(n > 0 for n in score["nll_per_word"])
    if preset != "hred":
        dim = run.config.model.latent_dim
        assert np.array(signatures["encode"]["mean"]).shape == (3, dim)


def test_each_export_carries_a_model_card(trained_runs, exports):
    card = json.load(open(os.path.join(exports["vhcr_ud"], "assets.extra",
                                       "model_card.json")))
    assert (card["model_name"], card["preset"], card["architecture"]) == ("vhcr_ud", "vhcr_ud",
                                                                         "vhcr")
    assert card["limits"] == {"max_turns": 10, "max_words_per_utterance": 30,
                              "max_response_tokens": 31, "beam_length_alpha": 0.6}
    assert card["data"]["corpus"] == "dailydialog"
    assert card["data"]["preprocessing"]["max_utterance_words"] == 30
    assert card["commands"]["train"].startswith("python") and "--model vhcr_ud" in \
        card["commands"]["train"]
    assert set(card["signatures"]) == {"serving_default", "beam", "sample", "score", "encode"}
    assert "# vhcr_ud: vhcr_ud" in open(os.path.join(exports["vhcr_ud"], "assets.extra",
                                                     "model_card.md")).read()


def test_export_applies_the_word_cap_the_data_was_made_with(small_data, tmp_path):
    """Data preprocessed with --max_utterance_words 6 is trained and served at 6 words."""
    from preprocessing import run
    from tests.helpers import (
        IN_MEMORY_ARGS,
        TINY_OVERRIDE,
        real_or_synthetic_root,
        small_raw_dailydialog,
    )
    data = str(tmp_path / "data")
    run.run(["--corpus", "dailydialog", "--input",
             small_raw_dailydialog(tmp_path, real_or_synthetic_root()),
             "--output", data, "--max_utterance_words", "6", "--max_slice_words", "40",
             *IN_MEMORY_ARGS])
    model_dir = str(tmp_path / "hred")
    trained = subprocess.run(
        [sys.executable, "-m", "pipeline.train", "--model", "hred", "--data", data,
         "--model_dir", model_dir, "--progress", "none", "--params_override",
         TINY_OVERRIDE + ",data.batch_size=8,train.epochs=1,train.steps_per_epoch=2,"
         "train.validation_steps=1,train.sample_responses=0"],
        cwd=REPO_ROOT, capture_output=True, text=True)
    assert trained.returncode == 0, trained.stderr[-3000:]
    path = export.export(model_dir, str(tmp_path / "models" / "hred"))
    card = json.load(open(os.path.join(path, "assets.extra", "model_card.json")))
    assert card["limits"]["max_words_per_utterance"] == 6
    loaded = tf.saved_model.load(path)
    out = loaded.signatures["score"](context=tf.constant([["hello ."]]),
                                     response=tf.constant([" ".join(["word"] * 20)]))
    assert float(out["words"][0]) == 7.0  # 6 words + </s>, as in training
    beam = loaded.signatures["beam"](context=tf.constant([["hello ."]]),
                                     beam_size=tf.constant(2))
    responses = [r.decode("utf-8") for r in beam["responses"].numpy().ravel()]
    assert responses and all(len(r.split()) <= 6 for r in responses)


def test_score_signature_equals_the_model_bound(trained_runs, exports):
    loaded = tf.saved_model.load(exports["hred"])  # HRED: exact, no sampling
    run = load_run(str(trained_runs / "hred"))
    out = loaded.signatures["score"](context=tf.constant([["where do you live ?"]]),
                                     response=tf.constant(["in the city ."]))
    ids = run.codec.encode_context(["where do you live ?", "in the city ."])
    nll, words = run.model.score_responses(ids)
    assert float(out["words"][0]) == float(words[0]) == 5.0
    assert float(out["nll"][0]) == pytest.approx(float(nll[0]), rel=1e-5)


def test_tf1_session_loader_runs_serving_default(exports):
    out = fresh(exports["co_ss"], "--tf1")
    greedy = out["outputs"]["serving_default"]
    assert len(greedy["response"]) == 3 and greedy["response"][2] == ""
    assert greedy["response"][0]


def test_warmup_requests_replay_through_the_signatures(exports):
    from tensorflow_serving.apis import prediction_log_pb2
    path = os.path.join(exports["vhcr_ud"], "assets.extra", export.WARMUP_FILE)
    loaded = tf.saved_model.load(exports["vhcr_ud"])
    replayed = set()
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        assert request.model_spec.name == "vhcr_ud"
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        outputs = loaded.signatures[request.model_spec.signature_name](**inputs)
        assert all(int(tf.size(v)) > 0 for v in outputs.values())
        replayed.add(request.model_spec.signature_name)
    assert replayed == set(loaded.signatures)


def test_hostile_inputs_give_bounded_well_formed_outputs(exports):
    loaded = tf.saved_model.load(exports["co_ss"])
    greedy = loaded.signatures["serving_default"]
    cases = {
        "empty": [[""]],
        "huge utterance": [["word " * 20000]],  # 100,000 characters
        "invalid utf-8": [[b"\xff\xfe caf\xc3 \x80hello"]],
        "1,000 turns": [[f"turn {i} ." for i in range(1000)]],
        "batch of 512": [["hello ?", "hi ."]] * 512,
    }
    for name, context in cases.items():
        out = greedy(context=tf.constant(context))
        responses = out["response"].numpy()
        assert responses.shape == (len(context),), name
        for response in responses:
            assert len(response.decode("utf-8").split()) <= 31, name
        assert np.isfinite(out["score"].numpy()).all(), name
    beam = loaded.signatures["beam"](context=tf.constant([["hi ."]]),
                                     beam_size=tf.constant(1000))
    assert beam["responses"].shape == (1, export.MAX_BEAM)
    sample = loaded.signatures["sample"](context=tf.constant([["hi ."]]),
                                         num_samples=tf.constant(-3),
                                         temperature=tf.constant(0.0))
    assert sample["responses"].shape == (1, 1)
    score = loaded.signatures["score"](context=tf.constant([[""]]), response=tf.constant([""]))
    assert np.isfinite(score["nll"].numpy()).all()


class FakePredictionService:
    """A test double of TF Serving's PredictionService (gRPC) over the SavedModel."""

    def __init__(self, path, model_name):
        from tensorflow_serving.apis import prediction_service_pb2_grpc
        self.loaded = tf.saved_model.load(path)
        self.model_name = model_name
        self.base = prediction_service_pb2_grpc.PredictionServiceServicer

    def servicer(self):
        import grpc
        from tensorflow_serving.apis import predict_pb2
        double = self

        class Servicer(self.base):
            def Predict(self, request, context):
                if request.model_spec.name != double.model_name:
                    context.abort(grpc.StatusCode.NOT_FOUND,
                                  f"Servable not found for request: {request.model_spec.name}")
                signature = double.loaded.signatures[request.model_spec.signature_name or
                                                     "serving_default"]
                inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
                reply = predict_pb2.PredictResponse()
                for name, value in signature(**inputs).items():
                    reply.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
                return reply
        return Servicer()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_grpc_client_against_a_prediction_service_double(exports):
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc
    double = FakePredictionService(exports["co_ss"], "co_ss")
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(double.servicer(),
                                                                        server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        grpc_client = client.GrpcClient(f"127.0.0.1:{port}", "co_ss", timeout=60)
        out = grpc_client.predict([["hello , how are you ?"], ["where do you live ?", "here"]])
        direct = double.loaded.signatures["serving_default"](
            context=tf.constant([["hello , how are you ?", ""],
                                 ["where do you live ?", "here"]]))
        assert list(out["response"]) == [r.decode() for r in direct["response"].numpy()]
        beam = grpc_client.predict([["hi ."]], signature="beam", beam_size=2)
        assert beam["responses"].shape == (1, 2)
        with pytest.raises(client.ServingError, match="NOT_FOUND"):
            client.GrpcClient(f"127.0.0.1:{port}", "nope", timeout=60).predict([["hi"]])
    finally:
        server.stop(0)
    with pytest.raises(client.ServingError, match="cannot reach"):
        client.GrpcClient(f"127.0.0.1:{free_port()}", "co_ss", timeout=5).predict([["hi"]])


def test_rest_client_and_chat_against_a_rest_double(exports):
    import http.server
    loaded = tf.saved_model.load(exports["hred"])

    class Handler(http.server.BaseHTTPRequestHandler):
        """A test double of TF Serving's REST predict API (columnar inputs)."""

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/v1/models/hred:predict":
                self.send_response(404)
                self.end_headers()
                self.wfile.write(json.dumps({"error": "Servable not found"}).encode())
                return
            signature = loaded.signatures[body.get("signature_name", "serving_default")]
            dtypes = {"beam_size": tf.int32, "num_samples": tf.int32, "temperature": tf.float32}
            inputs = {k: tf.constant(v, dtype=dtypes.get(k, tf.string))
                      for k, v in body["inputs"].items()}
            outputs = {k: v.numpy().tolist() for k, v in signature(**inputs).items()}
            outputs = json.loads(json.dumps(outputs, default=lambda b: b.decode()))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(json.dumps({"outputs": outputs}).encode())

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        out = client.RestClient(url, "hred", timeout=60).predict([["where do you live ?"]])
        local = chat.LocalModel(os.path.dirname(exports["hred"]))
        assert out["response"][0] == local.predict([["where do you live ?"]])["response"][0]
        with pytest.raises(client.ServingError, match="HTTP 404: Servable not found"):
            client.RestClient(url, "other", timeout=60).predict([["hi"]])
        conversation = chat.Chat(client.make_client(f"{url}/hred", timeout=60))
        first = conversation.reply("hello .")
        second = conversation.reply("where do you live ?")
        assert conversation.history == ["hello .", first, "where do you live ?", second]
        # The chat sends the whole dialogue so far as the context of each reply.
        assert first == local.predict([["hello ."]])["response"][0]
        assert second == local.predict([["hello .", first, "where do you live ?"]])[
            "response"][0]
    finally:
        server.shutdown()
    with pytest.raises(client.ServingError, match="cannot reach"):
        client.RestClient(f"http://127.0.0.1:{free_port()}", "hred", timeout=5).predict([["x"]])


def test_chat_cli_with_a_local_export(exports):
    result = subprocess.run([sys.executable, "-m", "serving.chat", "--model",
                             os.path.dirname(exports["co_ss"]), "--say", "hi .", "--say",
                             "where are you from ?"], cwd=REPO_ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert [line.split(">")[0] for line in lines] == ["you", "bot", "you", "bot"]


def test_real_tensorflow_model_server_when_available(exports):
    binary = shutil.which("tensorflow_model_server")
    if binary is None:
        pytest.skip("no tensorflow_model_server binary on PATH (docker has no daemon or "
                    "image here either); the gRPC and REST doubles cover the clients")
    base = os.path.dirname(exports["hred"])
    grpc_port, rest_port = free_port(), free_port()
    server = subprocess.Popen([binary, f"--port={grpc_port}", f"--rest_api_port={rest_port}",
                               "--model_name=hred", f"--model_base_path={base}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import time
        deadline = time.time() + 60
        while True:
            try:
                out = client.RestClient(f"http://127.0.0.1:{rest_port}", "hred").predict(
                    [["hello ."]])
                break
            except client.ServingError:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        assert out["response"].shape == (1,)
    finally:
        server.kill()


def test_chat_reads_invalid_utf8_on_standard_input(exports):
    result = subprocess.run([sys.executable, "-m", "serving.chat", "--model",
                             os.path.dirname(exports["co_ss"])],
                            input=b"hi \xff\xfe there .\nwhere are you from ?\n",
                            cwd=REPO_ROOT, capture_output=True)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.decode("utf-8").strip().splitlines()
    assert [line.split(">")[0] for line in lines] == ["you", "bot", "you", "bot"]
    assert "\ufffd" in lines[0]  # the stray bytes became U+FFFD; the dialogue went on
