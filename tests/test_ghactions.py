from __future__ import annotations

from pathlib import Path

from evalgate.ghactions import annotation, append_summary, untrusted_block, write_outputs


def test_annotation_escapes_message_and_properties() -> None:
    line = annotation("error", "50% off\nnext", file="evals/a,b.yaml", line=7, title="case: x")
    assert line == "::error file=evals/a%2Cb.yaml,line=7,title=case%3A x::50%25 off%0Anext"


def test_outputs_use_a_delimiter_not_in_the_value(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_outputs(out, {"pass-rate": "0.875", "report": "line1\nEVALGATE_x\nline3"})
    text = out.read_text()
    name, _rest = text.split("<<", 1)
    assert name == "pass-rate"
    blocks = text.split("\n")
    assert blocks[1] == "0.875"
    report_delim = blocks[3].split("<<", 1)[1]
    assert blocks[4:7] == ["line1", "EVALGATE_x", "line3"]
    assert blocks[7] == report_delim


def test_summary_is_capped_below_one_mebibyte(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    append_summary(path, "é" * 1_000_000)
    assert len(path.read_bytes()) < 1024 * 1024
    assert "truncated" in path.read_text()


def test_untrusted_text_is_wrapped_in_stop_commands() -> None:
    start, body, end = untrusted_block("::error::fake")
    token = start.split("::")[2]
    assert start == f"::stop-commands::{token}"
    assert end == f"::{token}::"
    assert body == "::error::fake"
