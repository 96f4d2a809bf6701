"""A few property-based malformed requests against the real production server: every answer
meets the error contract (tests/request_fuzz.py) and the server stays up. The thousand-case run
is `benchmarks/reliability.py --parts fuzz`."""
from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import free_port, source_mmif
from request_fuzz import Files, classify, mmif_bodies, parameters, send


def test_malformed_requests_meet_the_error_contract(server, media, tmp_path_factory):
    out_root = tmp_path_factory.mktemp("fuzz-out")
    (out_root / "file.txt").write_text("a file, not a folder")
    files = Files(good=media["wav"], garbage=media["garbage"], zero=media["zero"],
                  folder=tmp_path_factory.mktemp("a-folder"), out_root=out_root, closed_port=free_port())
    seen = set()

    @settings(max_examples=12, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(body=mmif_bodies(files), params=parameters(files) | st.just({}))
    @example(body=source_mmif(("audio/wav", media["garbage"]), ("audio/wav", media["wav"])), params={})
    @example(body=source_mmif(("audio/wav", media["wav"])), params={"threshold": ["1.5"]})
    def check(body, params):
        outcome = classify(*send(server.url, body, params))
        assert outcome.kind != "crash", (outcome.detail, body, params)
        seen.add(outcome.kind)

    check()
    assert server.alive()
    assert seen == {"ok", "invalid-input", "error-view"}, seen  # the cases reached every branch
