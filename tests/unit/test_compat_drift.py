"""The compatibility claims cannot drift from the code: botocore's model, the router's table, the
handlers, compat/operations.py and the generated COMPATIBILITY.md must all agree."""

from __future__ import annotations

import json

import pytest

from compat import coverage, generate, model, operations, results
from s3server.gateway import router
from s3server.s3.handlers import HANDLERS

MODEL = model.operations()
ROUTER = {op.name for op in router.OPERATIONS}


def test_every_model_operation_is_routed() -> None:
    """An operation the router does not know would fall through to a less specific row: a wrong success."""
    missing = sorted(set(MODEL) - ROUTER - set(operations.SAME_REQUEST_AS))
    assert not missing, (
        f"botocore {model.botocore_version()} defines operations with no row in s3server/gateway/router.py "
        f"(add a row, which answers 501 until it has a handler): {missing}"
    )


def test_router_rows_are_model_operations() -> None:
    unknown = sorted(ROUTER - set(MODEL) - set(operations.BEYOND_MODEL) - operations.NEWER_MODEL)
    assert not unknown, (
        f"router rows that botocore's model does not name (a typo, or BEYOND_MODEL): {unknown}"
    )
    stale = sorted(set(operations.BEYOND_MODEL) - ROUTER)
    assert not stale, f"BEYOND_MODEL names operations with no router row: {stale}"
    stale = sorted(operations.NEWER_MODEL - ROUTER)
    assert not stale, f"NEWER_MODEL names operations with no router row: {stale}"


def _level(spec: model.ModelOperation) -> router.Level:
    # WriteGetObjectResponse's fixed path sits where a bucket name would.
    return {"/": router.Level.SERVICE, "/{Bucket}/{Key+}": router.Level.OBJECT}.get(
        spec.path, router.Level.BUCKET
    )


def test_router_rows_match_the_model_request_line() -> None:
    """Each row's method and level agree with the model's requestUri, so the names are not swapped."""
    wrong = []
    for op in router.OPERATIONS:
        spec = MODEL.get(op.name)
        if spec is None:
            continue
        level = _level(spec)
        if (op.method, op.level) != (spec.method, level):
            wrong.append(
                f"{op.name}: router {op.method} {op.level.value}, model {spec.method} {spec.request_uri}"
            )
        selectors = {s.partition("=")[0] for s in op.selectors}
        if not spec.query_keys <= selectors:
            wrong.append(
                f"{op.name}: model sub-resource {sorted(spec.query_keys)}, router {sorted(selectors)}"
            )
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(MODEL))
def test_model_request_resolves_to_its_operation(name: str) -> None:
    """Each operation, sent with the sub-resource and required parameters the model gives it, reaches
    its own row (or the row of the request it shares): never a less specific row such as PutObject."""
    spec = MODEL[name]
    query = {**{key: "1" for key in spec.required_query}, **spec.fixed_query}
    headers = {header: "x" for header in spec.required_headers}
    resolved = router.resolve(spec.method, _level(spec), query, headers)
    assert resolved is not None, f"{name}: {spec.method} {spec.request_uri} resolves to nothing (405)"
    assert resolved.name == operations.SAME_REQUEST_AS.get(name, name)


def test_same_request_aliases_are_wire_identical() -> None:
    """An alias is only honest when the model's request for it cannot be told from its target's."""
    for alias, target in operations.SAME_REQUEST_AS.items():
        assert alias in MODEL, f"{alias} is not in botocore's model"
        assert alias not in ROUTER, f"{alias} has its own router row; drop it from SAME_REQUEST_AS"
        assert target in ROUTER, f"{alias} is said to be answered as {target}, which has no router row"
        assert MODEL[alias].same_request_as(MODEL[target]), (
            f"{alias} ({MODEL[alias].method} {MODEL[alias].request_uri}) is not the same request as "
            f"{target} ({MODEL[target].method} {MODEL[target].request_uri})"
        )


def test_every_supported_operation_has_a_handler() -> None:
    claimed = sorted(set(operations.SUPPORTED) - set(HANDLERS))
    assert not claimed, f"compat/operations.py claims operations that have no handler: {claimed}"


def test_every_handler_is_listed_as_supported() -> None:
    unlisted = sorted(set(HANDLERS) - set(operations.SUPPORTED))
    assert not unlisted, (
        f"handlers missing from compat/operations.py SUPPORTED (add them with notes): {unlisted}"
    )


def test_every_handler_has_a_router_row() -> None:
    orphans = sorted(set(HANDLERS) - ROUTER)
    assert not orphans, f"handlers that no request can reach: {orphans}"


def test_every_supported_operation_is_exercised_by_a_test() -> None:
    exercised = coverage.exercised_by(operations.SUPPORTED)
    untested = sorted(op for op, modules in exercised.items() if not modules)
    assert not untested, f"supported operations that no integration or client test calls by name: {untested}"


def test_coverage_scan_matches_whole_names_only() -> None:
    pattern = coverage._pattern("PutObject")
    assert pattern.search("s3.put_object(Bucket=b)")
    assert pattern.search("aws s3api put-object --bucket b")
    assert pattern.search("new PutObjectCommand({})")
    assert not pattern.search("s3.put_object_tagging(Bucket=b)")
    assert not pattern.search("aws s3api put-object-tagging")
    assert not pattern.search("PutObjectTaggingCommand")


def test_client_results_file_is_well_formed() -> None:
    data = json.loads(results.RESULTS_PATH.read_text())
    assert results.dump(data) == results.RESULTS_PATH.read_text(), "client-results.json is not canonical"
    for client, entry in data["clients"].items():
        assert client in results.CLIENTS, client
        for feature, cells in entry["features"].items():
            assert feature in results.FEATURES, f"{client}: {feature}"
            for backend, cell in cells.items():
                assert cell == results.PASS or cell.startswith(results.FAIL), f"{client}/{feature}/{backend}"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Failed  to\ncopy", "Failed to copy"),
        ("dial tcp 127.0.0.1:45123: refused", "dial tcp 127.0.0.1:PORT: refused"),
        ("open /var/cache/run-3/big0/file.bin: no such file", "open …/file.bin: no such file"),
    ],
)
def test_failure_details_carry_no_ports_or_paths(raw: str, clean: str) -> None:
    assert results.clean_detail(raw) == clean


def test_compatibility_md_is_current() -> None:
    path = generate.OUTPUT_PATH
    assert path.exists(), "COMPATIBILITY.md is missing: run `python -m compat`"
    assert path.read_text() == generate.render(), (
        "COMPATIBILITY.md is out of date: run `python -m compat` (a full test run regenerates it too) "
        "and commit it with compat/client-results.json"
    )
