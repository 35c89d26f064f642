"""dialogvae: keras_models (filled in by later issues)."""
