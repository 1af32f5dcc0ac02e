"""`python -m s3server.node.probe [URL]`: exit 0 when the storage node answers its (signed) /health.

For container health checks and Kubernetes exec probes, which cannot sign a request themselves:
the cluster secret comes from S3SERVER_CLUSTER_SECRET, the URL defaults to this host's node port.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

from s3server.node.signing import sign


def main(argv: list[str]) -> int:
    port = os.environ.get("S3SERVER_NODE_PORT", "7881")
    url = (argv[0] if argv else f"http://127.0.0.1:{port}").rstrip("/")
    headers = sign(os.environ.get("S3SERVER_CLUSTER_SECRET", ""), "GET", "/health")
    try:
        with urllib.request.urlopen(urllib.request.Request(url + "/health", headers=headers), timeout=4):
            return 0
    except (urllib.error.URLError, OSError) as exc:
        print(f"storage node {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
