"""dialogvae serving: SavedModel export, TF Serving clients and the chat tool."""
from preprocessing.cli import quiet_unless_verbose

quiet_unless_verbose()
