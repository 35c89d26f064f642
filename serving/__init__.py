"""dialogvae: serving (filled in by later issues)."""
