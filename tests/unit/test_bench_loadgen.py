"""The load generator's workload loop: a workload whose preparation a server fails is an error, and
the workloads after it still run (one peer's bug must not cost it every figure of the run)."""

from __future__ import annotations

from typing import Any

from bench.loadgen import Outcome, VerifyError, run_workloads


class FailingListings:
    """Answers the calls run_workloads makes, failing the listed bucket's fill like a server's 500."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def small_workload(self, verb: str, concurrency: int, signed: bool = False) -> Outcome:
        self.calls.append(f"{verb}-{concurrency}")
        return Outcome(f"{verb.lower()}-4k-c{concurrency}", concurrency, ops=10, seconds=1.0)

    async def list_workload(self, delimiter: bool) -> Outcome:
        self.calls.append(f"list-{delimiter}")
        raise VerifyError("PUT dir0000/obj1: HTTP 500 b'InternalError'")

    async def mixed_workload(self) -> Outcome:
        self.calls.append("mixed")
        return Outcome("mixed-4k-c32", 32, ops=5, seconds=1.0)


async def test_a_failed_preparation_is_an_error_and_the_run_goes_on() -> None:
    bench: Any = FailingListings()
    names = ["get-4k-c32", "list-1000-flat-c4", "list-1000-delimiter-c4", "mixed-4k-c32"]
    outcomes = await run_workloads(bench, names, [])
    assert [o.workload for o in outcomes] == names
    assert bench.calls == ["GET-32", "list-False", "list-True", "mixed"]
    listed = outcomes[1]
    assert listed.errors == 1 and listed.ops == 0
    assert listed.error_samples[0].startswith("preparation failed: PUT dir0000/obj1: HTTP 500")
    assert outcomes[0].errors == outcomes[3].errors == 0
