"""The benchmark: `python -m bench`."""
