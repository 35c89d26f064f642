"""dialogvae's tools: train, evaluate, report, study and latent-space tools."""
from pipeline.cli import quiet_unless_verbose

quiet_unless_verbose()
