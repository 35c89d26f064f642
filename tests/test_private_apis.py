"""Every private Keras and Beam API this project relies on, checked in one place: an
upgrade that removes one fails here, naming the version and the module that needs it,
instead of deep inside a training run. (setup.py pins the minor versions these hold for.)"""
import apache_beam
import keras
import pytest

KERAS = [
    # (object, attribute, who uses it and why)
    (keras.Model, "_maybe_symbolic_build",
     "keras_models/conversation_model.py: skip the symbolic build under multi-worker"),
    (keras.optimizers.Adam, "_get_variable_index",
     "keras_models/optimizers.py: FusedAdam finds a variable's Adam slots"),
    (keras.callbacks.TensorBoard, "_push_writer",
     "pipeline/training/callbacks.py: TensorBoard on the global step"),
    (keras.callbacks.TensorBoard, "_pop_writer", "pipeline/training/callbacks.py"),
    (keras.callbacks.TensorBoard, "_log_epoch_metrics", "pipeline/training/callbacks.py"),
    (keras.callbacks.BackupAndRestore, "_save_model",
     "pipeline/training/callbacks.py: crash-safe backups"),
    (keras.callbacks.BackupAndRestore, "_should_save_on_batch",
     "pipeline/training/callbacks.py: no backup at an epoch's last batch"),
]


@pytest.mark.parametrize("owner, name, why", KERAS, ids=[k[1] for k in KERAS])
def test_private_keras_apis_exist(owner, name, why):
    assert hasattr(owner, name), (f"Keras {keras.__version__} has no {owner.__name__}."
                                  f"{name}; needed by {why}")


def test_private_keras_instance_attributes_exist(tmp_path):
    optimizer = keras.optimizers.Adam()
    optimizer.build([keras.Variable([1.0])])
    assert hasattr(optimizer, "_momentums") and hasattr(optimizer, "_velocities"), (
        f"Keras {keras.__version__}: Adam's slots moved (keras_models/optimizers.py)")
    for name in ("_train_writer", "_val_writer"):  # lazily made writers (properties)
        assert isinstance(getattr(keras.callbacks.TensorBoard, name, None), property), (
            f"Keras {keras.__version__}: TensorBoard.{name} is gone "
            "(pipeline/training/callbacks.py)")
    board = keras.callbacks.TensorBoard(str(tmp_path))
    assert hasattr(board, "_global_train_batch"), (
        f"Keras {keras.__version__}: TensorBoard._global_train_batch is gone "
        "(pipeline/training/callbacks.py)")
    backup = keras.callbacks.BackupAndRestore(str(tmp_path))
    for name in ("_weights_path", "_training_metadata_path"):
        assert hasattr(backup, name), (f"Keras {keras.__version__}: BackupAndRestore.{name} "
                                       "is gone (pipeline/training/callbacks.py)")
    from keras.src import backend
    assert callable(getattr(backend, "rnn", None)), (
        f"Keras {keras.__version__}: keras.src.backend.rnn is gone "
        "(keras_models/layers/gru.py, the fast CPU GRU loop)")


def test_private_beam_apis_exist():
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners import common
    version = apache_beam.__version__
    assert hasattr(common, "_OutputHandler"), (
        f"Beam {version}: apache_beam.runners.common._OutputHandler is gone "
        "(preprocessing/dask_runner.py)")
    assert hasattr(PipelineOptions, "_add_argparse_args"), (
        f"Beam {version}: PipelineOptions._add_argparse_args is gone (preprocessing/run.py "
        "checks unknown flags with it)")
    from apache_beam.pvalue import AsDict
    assert hasattr(AsDict, "_view_options"), (
        f"Beam {version}: side inputs' _view_options is gone (preprocessing/dask_runner.py)")
