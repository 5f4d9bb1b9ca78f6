"""Match sparse-autoencoder features between a narrow and a wide SAE."""

__version__ = "0.1.0"
