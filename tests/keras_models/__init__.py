"""Tests of keras_models/."""
