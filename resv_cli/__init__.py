"""resv: administration toolkit for a city's shared public-facility reservation database."""

__version__ = "0.1.0"
