"""The compatibility matrix: which S3 operations s3server supports, which tests exercise them, and how
real clients fared in the last run of s3-compat-tests/.

`python -m compat` writes COMPATIBILITY.md from four sources that cannot disagree silently:
botocore's S3 model (every operation AWS defines), the router's operation table, `operations.SUPPORTED`
(checked against the handlers by tests/unit/test_compat_drift.py) and `client-results.json` (written by
the client suites).
"""
