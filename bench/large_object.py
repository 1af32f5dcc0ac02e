"""Stream one large object up and down and report MB/s and the server's peak RSS (VmHWM).

The server is a fresh `s3server serve` process, so its VmHWM is the peak of exactly this run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from boto3.s3.transfer import TransferConfig

from bench import server as bench_server
from bench.proc import vm_hwm_mib


def make_file(path: Path, size: int) -> str:
    md5 = hashlib.md5()
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            piece = block[: min(len(block), size - written)]
            fh.write(piece)
            md5.update(piece)
            written += len(piece)
    return md5.hexdigest()


def run(size_mib: int, multipart: bool, tls: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        with bench_server.running(tmp_path / "data", tls=tls) as server:
            s3 = server.boto3_client()
            s3.create_bucket(Bucket="bench")
            src = tmp_path / "src.bin"
            digest = make_file(src, size_mib * 1024 * 1024)
            print(f"server RSS after start: {vm_hwm_mib(server.process.pid):.1f} MiB (VmHWM)")
            threshold = 8 * 1024 * 1024 if multipart else 6 * 1024**3
            transfer = TransferConfig(multipart_threshold=threshold, max_concurrency=10)
            started = time.perf_counter()
            if multipart:
                s3.upload_file(str(src), "bench", "big", Config=transfer)
            else:
                with open(src, "rb") as fh:
                    s3.put_object(Bucket="bench", Key="big", Body=fh)
            up = time.perf_counter() - started
            print(
                f"PUT {size_mib} MiB: {size_mib / up:.0f} MB/s; "
                f"server VmHWM {vm_hwm_mib(server.process.pid):.1f} MiB"
            )
            started = time.perf_counter()
            md5 = hashlib.md5()
            body = s3.get_object(Bucket="bench", Key="big")["Body"]
            for piece in iter(lambda: body.read(1024 * 1024), b""):
                md5.update(piece)
            down = time.perf_counter() - started
            assert md5.hexdigest() == digest, "downloaded bytes differ"
            print(
                f"GET {size_mib} MiB: {size_mib / down:.0f} MB/s; "
                f"server VmHWM {vm_hwm_mib(server.process.pid):.1f} MiB"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--multipart", action="store_true", help="upload with boto3's multipart transfer")
    parser.add_argument(
        "--tls", action="store_true", help="HTTPS (boto3 then sends aws-chunked bodies with trailers)"
    )
    args = parser.parse_args(argv)
    print(
        f"{'HTTPS' if args.tls else 'HTTP'}, {'multipart' if args.multipart else 'single PUT'}, "
        f"{args.size_mib} MiB"
    )
    run(args.size_mib, args.multipart, args.tls)


if __name__ == "__main__":
    main()
