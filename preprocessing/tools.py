"""The preprocessing console script (setup.py): quiets start-up before Beam loads."""
from preprocessing.cli import launcher

preprocess = launcher("preprocessing.run")
