"""Keras 3 conversation models (TF backend) and the layers they are built from."""
from keras_models.collaborative import CollaborativeVED
from keras_models.config import ModelConfig
from keras_models.conversation_model import ConversationModel
from keras_models.hred import HRED
from keras_models.vhcr import VHCR
from keras_models.vhred import VHRED

ARCHITECTURES = {"hred": HRED, "vhred": VHRED, "vhcr": VHCR, "co": CollaborativeVED}


def build_model(config: ModelConfig, vocab_size: int, seed: int = 1) -> ConversationModel:
    """The model named by `config.architecture` (a ModelConfig); `seed` (train.seed) sets
    its initialisation and noise streams."""
    if config.architecture not in ARCHITECTURES:
        raise ValueError(f"model.architecture {config.architecture!r} is not one of "
                         f"{sorted(ARCHITECTURES)}")
    return ARCHITECTURES[config.architecture](config, vocab_size, seed=seed,
                                              name=config.architecture)
