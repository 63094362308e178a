"""cnndsl: a declarative graph compiler for convolutional networks."""

__version__ = "0.1.0"
