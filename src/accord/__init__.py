"""accord: privacy-preserving federated clinical AI across hospitals."""

__version__ = "0.1.0"
__all__ = ["__version__"]
