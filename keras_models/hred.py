"""HRED (Serban et al. 2016): the hierarchical encoder-decoder without latent variables."""
from keras_models.conversation_model import ConversationModel


class HRED(ConversationModel):
    """Exact per-word NLL; reports no KL."""
