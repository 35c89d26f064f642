"""Clients for a dialogvae model served by TensorFlow Serving: REST and gRPC.

    client = RestClient("http://localhost:8501", "co_ss")
    client.predict([["hello , how are you ?"]])                    # serving_default
    client.predict([["hi ."]], signature="beam", beam_size=5)
    GrpcClient("localhost:8500", "co_ss").predict([["hi ."]], signature="sample",
                                                  num_samples=3, temperature=0.8)

Both return {output name: numpy array} with strings decoded to str. Errors (server
unreachable, timeout, a rejected request) raise ServingError with the address, model and
signature in the message.
"""
import json
import urllib.error
import urllib.request
from collections.abc import Sequence

import numpy as np

SCALAR_INPUTS = {"beam_size": "int32", "num_samples": "int32", "temperature": "float32"}


Contexts = Sequence[Sequence[str]]  # a batch of dialogues, each its turns, oldest first
Outputs = dict[str, np.ndarray]  # a signature's outputs by name


class ServingError(RuntimeError):
    """A request to TensorFlow Serving failed; the message says where and why."""


def request_inputs(contexts: Contexts, extra: dict) -> dict[str, object]:
    """A request's named inputs (every client and the local chat model send these):
    contexts padded with "" to a [batch, turns] matrix, and the given scalars."""
    contexts = [list(c) for c in contexts]
    width = max((len(c) for c in contexts), default=1) or 1
    inputs = {"context": [c + [""] * (width - len(c)) for c in contexts]}
    for name, value in extra.items():
        if value is not None:
            inputs[name] = value
    return inputs


def decode_outputs(value: object) -> np.ndarray:
    """A signature's output as numpy, its strings decoded from UTF-8 (bytes that are not
    become U+FFFD)."""
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind in "SU":
        return np.vectorize(lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes)
                            else v, otypes=[object])(array)
    return array


class RestClient:
    """POST {url}/v1/models/{model}[/versions/{version}]:predict (columnar "inputs")."""

    def __init__(self, url: str, model: str, version: str | None = None,
                 timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.version = version
        self.timeout = timeout

    def endpoint(self) -> str:
        version = f"/versions/{self.version}" if self.version else ""
        return f"{self.url}/v1/models/{self.model}{version}:predict"

    def predict(self, contexts: Contexts, signature: str = "serving_default",
                response: Sequence[str] | None = None, **scalars: float) -> Outputs:
        body = {"signature_name": signature,
                "inputs": request_inputs(contexts, {"response": response, **scalars})}
        request = urllib.request.Request(self.endpoint(), data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        where = f"{self.endpoint()} (signature {signature!r})"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                outputs = json.loads(reply.read())["outputs"]
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except ValueError:
                pass
            raise ServingError(f"{where}: HTTP {e.code}: {detail}") from e
        except urllib.error.URLError as e:
            raise ServingError(f"{where}: cannot reach the server ({e.reason}); is "
                               f"tensorflow_model_server running with --rest_api_port?") from e
        except TimeoutError as e:
            raise ServingError(f"{where}: no answer within {self.timeout} s") from e
        if not isinstance(outputs, dict):  # a single-output signature
            outputs = {"output": outputs}
        return {name: decode_outputs(value) for name, value in outputs.items()}


class GrpcClient:
    """tensorflow_serving.apis PredictionService.Predict over gRPC."""

    def __init__(self, target: str, model: str, version: str | None = None,
                 timeout: float = 10.0) -> None:
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc
        self.target = target
        self.model = model
        self.version = version
        self.timeout = timeout
        self.channel = grpc.insecure_channel(target)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)

    def predict(self, contexts: Contexts, signature: str = "serving_default",
                response: Sequence[str] | None = None, **scalars: float) -> Outputs:
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model
        request.model_spec.signature_name = signature
        if self.version:
            request.model_spec.version.value = int(self.version)
        for name, value in request_inputs(contexts, {"response": response, **scalars}).items():
            request.inputs[name].CopyFrom(
                tf.make_tensor_proto(value, dtype=SCALAR_INPUTS.get(name, "string")))
        where = f"grpc://{self.target} model {self.model!r} (signature {signature!r})"
        try:
            reply = self.stub.Predict(request, timeout=self.timeout)
        except grpc.RpcError as e:
            code = e.code()
            if code == grpc.StatusCode.UNAVAILABLE:
                raise ServingError(f"{where}: cannot reach the server ({e.details()}); is "
                                   f"tensorflow_model_server running with --port?") from e
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ServingError(f"{where}: no answer within {self.timeout} s") from e
            raise ServingError(f"{where}: {code.name}: {e.details()}") from e
        return {name: decode_outputs(tf.make_ndarray(proto))
                for name, proto in reply.outputs.items()}

    def close(self) -> None:
        self.channel.close()


def parse_address(address: str) -> tuple[str, str, str, str | None]:
    """(scheme, host:port, model, version) of a server address, with urllib.parse. Takes
    `http://HOST:PORT/MODEL`, TF Serving's REST path `http://HOST:PORT/v1/models/MODEL
    [/versions/N][:predict]`, and `grpc://HOST:PORT/MODEL`; ValueError names what is
    missing, with an example."""
    from urllib.parse import urlsplit
    parts = urlsplit(address)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "grpc"):
        raise ValueError(f"{address}: expected http://, https:// or grpc://, e.g. "
                         "http://localhost:8501/co_ss")
    if not parts.hostname:
        raise ValueError(f"{address}: no host, e.g. {scheme}://localhost:8501/co_ss")
    path = [p for p in parts.path.split("/") if p]
    if path and path[-1].endswith(":predict"):
        path[-1] = path[-1][:-len(":predict")]
    version = None
    if path[:2] == ["v1", "models"]:
        path = path[2:]
        if len(path) >= 3 and path[1] == "versions":
            version, path = path[2], path[:1]
        elif len(path) > 1:
            raise ValueError(f"{address}: expected /v1/models/MODEL[/versions/N]")
    if len(path) != 1:
        raise ValueError(f"{address}: name one model, e.g. {scheme}://{parts.netloc}/co_ss "
                         f"or {scheme}://{parts.netloc}/v1/models/co_ss")
    if version is not None and not version.isdigit():
        raise ValueError(f"{address}: the version must be an integer, got {version!r}")
    return scheme, parts.netloc, path[0], version


def make_client(address: str, model: str | None = None, timeout: float = 10.0
                ) -> RestClient | GrpcClient:
    """An address of `parse_address`'s forms -> RestClient (http, https) or GrpcClient."""
    scheme, netloc, named, version = parse_address(address)
    model = model or named
    if scheme in ("http", "https"):
        return RestClient(f"{scheme}://{netloc}", model, version=version, timeout=timeout)
    return GrpcClient(netloc, model, version=version, timeout=timeout)
