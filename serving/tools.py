"""The serving console scripts (setup.py): each quiets start-up before its tool loads."""
from preprocessing.cli import launcher

export = launcher("serving.export")
chat = launcher("serving.chat")
