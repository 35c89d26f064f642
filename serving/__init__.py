"""dialogvae serving: SavedModel export, TF Serving clients and the chat tool."""
