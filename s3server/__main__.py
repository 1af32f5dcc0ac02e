"""`python -m s3server` is the same as the `s3server` console script."""

from s3server.cli import main

raise SystemExit(main())
