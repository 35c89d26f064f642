"""Small layers the conversation models are built from."""
from keras_models.layers.bow import BagOfWords
from keras_models.layers.decoder import UtteranceDecoder
from keras_models.layers.encoders import ContextEncoder, ConversationEncoder, UtteranceEncoder
from keras_models.layers.gaussian import GaussianHead
from keras_models.layers.generator import LatentGenerator
from keras_models.layers.regularizers import UtteranceDrop, word_drop

__all__ = ["BagOfWords", "UtteranceDecoder", "ContextEncoder", "ConversationEncoder",
           "UtteranceEncoder", "GaussianHead", "LatentGenerator", "UtteranceDrop", "word_drop"]
