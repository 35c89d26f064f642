"""What a model is made of: its architecture, sizes and regularisers (`ModelConfig`, the
`model` section of an experiment config). It lives with the models that read it;
`pipeline.configs` adds the data, training, runtime and decoding sections and the presets.
"""
import dataclasses
from typing import Any, List

from official.modeling.hyperparams import base_config


def option(default: Any, low: float | None = None, high: float | None = None,
           high_included: bool = False, choices: tuple[str, ...] | None = None) -> Any:
    """A config field with the values it accepts declared beside it (checked by
    `pipeline.configs.validate`, listed in its error): a range [low, high) or [low, high],
    or choices."""
    metadata = {"low": low, "high": high, "high_included": high_included, "choices": choices}
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class ModelConfig(base_config.Config):
    architecture: str = option("vhred", choices=('hred', 'vhred', 'vhcr', 'co'))
    # Paper sizes (VHCR / CO papers).
    embedding_dim: int = option(300, low=1)
    utterance_units: int = option(512, low=1)
    context_units: int = option(1024, low=1)
    decoder_units: int = option(512, low=1)
    latent_dim: int = option(512, low=1)  # z_utt
    conv_latent_dim: int = option(512, low=1)  # VHCR's z_conv
    mlp_units: int = option(512, low=1)  # hidden layer of the Gaussian and bag-of-words heads
    # encoder/decoder rows run in this many length-sorted groups
    length_groups: int = option(2, low=1)
    # Adaptive softmax: vocabulary ids where the head and each tail end, e.g. [2000, 6000]
    # (an exact distribution, several times cheaper to train); [] = full softmax (papers).
    softmax_cutoffs: List[int] = dataclasses.field(default_factory=list)
    # How the decoder sees its condition ([context, latents]): "initial_state" only (the
    # VHCR authors' code, our presets) or also at "every_step" (Serban et al.'s VHRED).
    decoder_conditioning: str = option("initial_state", choices=('initial_state', 'every_step'))
    # The layer from the condition to the decoder's first state. The papers give none;
    # the VHCR authors' code uses tanh, which saturated within 50 steps in every run we
    # measured (lr 3e-4 to 3e-3), after which the decoder ignored its condition (context
    # gain 0.000 nats/word); linear keeps the condition usable (BUILD.md, "Conditioning").
    decoder_init_activation: str = option("linear", choices=('linear', 'tanh'))
    # False: the decoder sees the latents only, not the context state (VHCR paper Eq. 13,
    # its Fig. 2 experiment); VHRED and VHCR only.
    decoder_context: bool = True
    # Regularisers, each usable on every latent model.
    # KL weight 0 -> 1 linearly; 0 = weight 1 throughout
    kl_annealing_steps: int = option(0, low=0)
    # decoder inputs -> <unk> with this probability (training)
    word_drop: float = option(0.0, low=0.0, high=1.0)
    # context-RNN inputs -> h_unk with this probability
    utterance_drop: float = option(0.0, low=0.0, high=1.0)
    # "utterance": each utterance of each conversation drawn on its own; "position": the
    # VHCR authors' code, the same positions dropped in every conversation of a batch
    # (np.random.rand(max_len) < p), and, as their code does through an in-place write
    # into a view, the z_conv posterior's inputs dropped too.
    utterance_drop_form: str = option("utterance", choices=('utterance', 'position'))
    bow_loss: bool = False  # bag-of-words loss (Zhao et al. 2017)
    # What the bag-of-words head reads: "condition", the decoder's whole condition ([c, z];
    # Zhao et al., the CO paper's KLA+BOW), or "latent", z_utt alone (the VHCR authors'
    # compute_bow_loss, which is what keeps their VHRED + bow KL large).
    bow_input: str = option("condition", choices=('condition', 'latent'))
    # FB: each dimension's KL floored at lambda
    free_bits_per_dim: float = option(0.0, low=0.0)
    free_bits_total: float = option(0.0, low=0.0)  # FB-all: the total KL floored at lambda
    embeddings_path: str = ""  # optional word vectors (word2vec text/binary) to start from
    # Collaborative VED (architecture co).
    co_alpha: float = option(5.0, low=0.0)  # AE phase: max(alpha, KL) per response, in nats
    scheduled_sampling_steps: int = option(0, low=0)  # k: keep-rate max(1 - i/k, 0); 0 = no SS
    # AE and CVAE phases alternate every this many epochs
    phase_period_epochs: int = option(1, low=1)
    phase_period_steps: int = option(0, low=0)  # ...or every this many steps (0 = by epochs)
    joint_phases: bool = False  # both updates every step (the paper's "joint" row)
