"""Text from a pod or an API reaches the job summary as text, never as Markdown/HTML."""

from __future__ import annotations

from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from runpod_ssh_action import summary
from runpod_ssh_action.bootstrap import BootstrapConfig, BootstrapError, parse_output
from runpod_ssh_action.errors import ActionError
from runpod_ssh_action.masking import Masker
from runpod_ssh_action.ssh import SshTarget

HOSTILE = (
    "![x](https://evil.example/p.png) [login](https://evil.example) <img src=x> "
    "<b>bold</b> &lt;i&gt; `code` **strong** ~~gone~~ $x$ a|b https://evil.example/raw "
    "www.evil.example \\[still text\\]"
)


def _html(markdown: str) -> str:
    return str(MarkdownIt("commonmark").enable("table").render(markdown))


def test_text_escapes_everything_that_is_markup() -> None:
    escaped = summary.text(HOSTILE)

    html = _html(escaped)
    assert "<a " not in html and "<img" not in html and "<b>" not in html
    assert "<code>" not in html and "<strong>" not in html and "<i>" not in html
    # Every character is still there for the reader.
    assert "![x](https://evil.example/p.png)" in html
    assert "&lt;img src=x&gt;" in html


def test_bare_urls_and_www_names_do_not_become_links() -> None:
    escaped = summary.text("see https://evil.example and www.evil.example")

    # GFM links these without brackets; the matcher looks for "://" and "www." as typed.
    assert "://" not in escaped and "www." not in escaped
    assert _html(escaped).strip() == "<p>see https://evil.example and www.evil.example</p>"


def test_text_is_one_line() -> None:
    assert summary.text("line one\n# heading\r\n> quote") == "line one # heading \\> quote"


def test_secrets_keep_their_characters_so_the_masker_still_finds_them() -> None:
    secrets = ("ghs_AbC123_xyz", "rpa_POD_0123ABC", "aGVsbG8+d29ybGQ/Zm9v==", "-----BEGIN KEY-----")
    for secret in secrets:
        assert secret in summary.text(f"token {secret} leaked")


def test_failure_escapes_what_the_pod_said() -> None:
    error = BootstrapError(
        "The bootstrap on pod abc failed", "the pod said ![x](https://evil.example/p.png)", "oops"
    )

    text = summary.failure(error, "runpod-ssh-action main")

    assert "![x](" not in text
    html = _html(text)
    assert "<img" not in html and "<a " not in html
    assert "the pod said ![x](https://evil.example/p.png)." in html


def test_table_cells_are_escaped_and_pipes_stay_in_their_cell() -> None:
    text = summary.table(("pod", "outcome"), [("p1", "<img src=x> a|b [l](https://e.example)")])

    html = _html(text)
    assert html.count("<td>") == 2
    assert "<img" not in html and "<a " not in html and "a|b" in html


def test_pod_warning_is_escaped() -> None:
    text = summary.pod_warning("p1", "apt-get said <script>alert(1)</script>")

    assert "<script>" not in _html(text)
    assert "&lt;script&gt;" in _html(text)


def test_failure_keeps_the_plain_sentence() -> None:
    error = ActionError("Could not rent a pod.", "no capacity", "Try again")

    assert summary.failure(error, "start") == (
        "## ❌ start failed\n\n**What failed:** Could not rent a pod.\n\n"
        "**Why:** no capacity.\n\n**How to fix it:** Try again.\n\n"
    )


def test_a_pod_warning_is_handed_on_redacted_even_when_the_bootstrap_fails() -> None:
    config = BootstrapConfig("ssh", "p1", "https://api.example", 1, 0)
    target = SshTarget("1.2.3.4", 22, "root", Path("/k/id"), Path("/k/kh"))
    stdout = (
        b"RPSA-WARN apt-get said <img src=x> with SECRET-1\n"
        b"RPSA-RESULT error missing-tool the pod lacks curl\n"
    )
    masker = Masker()
    masker.add("SECRET-1")
    told: list[str] = []

    with pytest.raises(BootstrapError):
        parse_output(
            stdout, b"", 1, config=config, target=target, masker=masker, on_warning=told.append
        )

    assert told == ["apt-get said <img src=x> with ***"]
    assert "<img" not in _html(summary.pod_warning("p1", told[0]))
