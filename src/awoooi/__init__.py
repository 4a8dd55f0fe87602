"""awoooi: self-hosted, privacy-first AIOps for Kubernetes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("awoooi")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
