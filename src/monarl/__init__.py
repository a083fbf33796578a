"""monarl: MONA vs ordinary RL, exact and learned, with honest measurement of reward hacking."""

__version__ = "0.1.0"
