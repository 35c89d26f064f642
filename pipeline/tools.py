"""The pipeline's console scripts (setup.py): each quiets start-up before its tool loads."""
from preprocessing.cli import launcher

train = launcher("pipeline.train")
evaluate = launcher("pipeline.evaluate")
report = launcher("pipeline.report")
study = launcher("pipeline.study")
latent = launcher("pipeline.latent")
human_eval = launcher("pipeline.human_eval")
