"""treasury-lakehouse: the U.S. Treasury Fiscal Data API as a trustworthy analytics warehouse."""

__version__ = "0.1.0"
