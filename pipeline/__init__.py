"""dialogvae: pipeline (filled in by later issues)."""
