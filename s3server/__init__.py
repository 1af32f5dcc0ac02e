"""s3server: an S3-wire-compatible object store."""

__version__ = "0.1.0"
