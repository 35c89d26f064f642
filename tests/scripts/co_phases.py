"""Subprocess for test_collaborative: trains a tiny CO model one epoch per phase on one
device or on 2 logical CPUs (MirroredStrategy) and prints, per epoch, how far the AE
(theta) and CVAE (phi) parameter sets moved. Usage: co_phases DATA_DIR STRATEGY PRESET"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from pipeline.training import distribute  # noqa: E402

if __name__ == "__main__" and sys.argv[2] == "mirrored":
    distribute.split_cpu(2)  # before TensorFlow starts its devices

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_models.collaborative import CollaborativeVED  # noqa: E402
from pipeline import data  # noqa: E402
from pipeline.training import callbacks  # noqa: E402
from tests.helpers import tiny_model  # noqa: E402

STEPS_PER_EPOCH = 2
TRACES = {}  # phase -> Python calls of the step function (once per trace and replica)


def count_traces(step):
    def counted(self, phase, batch):
        TRACES[phase] = TRACES.get(phase, 0) + 1
        return step(self, phase, batch)
    return counted


class Snapshots(keras.callbacks.Callback):
    """Largest change of each parameter set over each epoch (and the phase it ran)."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def _take(self):
        return {name: [keras.ops.convert_to_numpy(v).copy() for v in variables]
                for name, variables in (("theta", self.model.ae_variables()),
                                        ("phi", self.model.cvae_variables()))}

    def on_epoch_begin(self, epoch, logs=None):
        self.before = self._take()

    def on_epoch_end(self, epoch, logs=None):
        after = self._take()
        moved = {name: max(float(np.abs(a - b).max()) for a, b in zip(after[name],
                                                                        self.before[name]))
                 for name in after}
        self.epochs.append({"phase": self.model.phase, "logged_phase": float(logs["phase"]),
                            **moved})


def main(data_dir, strategy_name, preset):
    CollaborativeVED.phase_train_step = count_traces(CollaborativeVED.phase_train_step)
    strategy = distribute.make_strategy(strategy_name, 2)
    vocab_size = len(data.load_vocabulary(data_dir))
    stream = data.make_dataset(data_dir, "train", 8, training=True, shuffle_buffer=50)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = tiny_model(preset, next(iter(stream)), vocab_size)
    snapshots = Snapshots()
    model.fit(stream, epochs=3, steps_per_epoch=STEPS_PER_EPOCH, verbose=0,
              callbacks=[callbacks.PhaseSchedule(STEPS_PER_EPOCH), snapshots])
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "epochs": snapshots.epochs,
                      "global_step": callbacks.global_step(model),
                      "traces": {phase: calls // strategy.num_replicas_in_sync
                                 for phase, calls in TRACES.items()},
                      "ae_steps": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
                      "cvae_steps": int(keras.ops.convert_to_numpy(
                          model.cvae_optimizer.iterations))}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
