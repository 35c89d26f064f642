"""dialogvae serving: SavedModel export, TF Serving clients and the chat tool."""
from pipeline.cli import quiet_unless_verbose

quiet_unless_verbose()
