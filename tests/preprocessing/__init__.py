"""Tests of preprocessing/."""
