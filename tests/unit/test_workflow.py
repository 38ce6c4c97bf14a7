"""The Actions runtime: files read back the runner's way, masks before values, escapes,
the summary cap, and the terminal fallbacks."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest

from runpod_ssh_action import workflow as workflow_module
from runpod_ssh_action.errors import ActionError
from runpod_ssh_action.workflow import (
    SUMMARY_LIMIT,
    SUMMARY_TRUNCATED,
    SharedFiles,
    Workflow,
    escape_data,
    escape_property,
    format_file_command,
    markdown_text,
    parse_file_commands,
    shared_files,
)

SECRET = "rpa_SECRETVALUE123"


def runner_parse(text: str) -> dict[str, str]:
    """The runner's file-command reader (actions/runner FileCommandManager), ported on
    its own so the writer is not only checked against its own reader: a line is a
    heredoc when "<<" comes before any "=", and ReadLine splits on CR, LF and CRLF."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    result: dict[str, str] = {}
    it = iter(lines)
    for line in it:
        if line == "":
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc >= 0 and (eq < 0 or heredoc < eq):
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            assert name and delimiter, f"invalid heredoc line {line!r}"
            body = []
            for value_line in it:
                if value_line == delimiter:
                    break
                body.append(value_line)
            else:
                raise AssertionError("missing delimiter: the runner fails the step")
            result[name] = "\n".join(body)
        elif eq > 0:
            result[line[:eq]] = line[eq + 1 :]
        else:
            raise AssertionError(f"invalid line {line!r}: the runner fails the step")
    return result


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    names = {
        "GITHUB_OUTPUT": "output",
        "GITHUB_STATE": "state",
        "GITHUB_STEP_SUMMARY": "summary.md",
    }
    env = {var: str(tmp_path / name) for var, name in names.items()}
    for path in env.values():
        Path(path).touch()
    return env


def make(env: dict[str, str] | None = None) -> tuple[Workflow, io.StringIO]:
    """A workflow inside Actions, where the runner sets GITHUB_ACTIONS=true."""
    out = io.StringIO()
    return Workflow({"GITHUB_ACTIONS": "true", **(env or {})}, out), out


def terminal(tmp_path: Path, **env: str) -> tuple[Workflow, io.StringIO]:
    """A workflow outside Actions: a terminal, its state under tmp_path."""
    out = io.StringIO()
    return Workflow({"XDG_STATE_HOME": str(tmp_path / "state"), **env}, out), out


# --- escapes ----------------------------------------------------------------------


def test_escapes_as_the_toolkit_does() -> None:
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_error_with_title_escapes_both_parts() -> None:
    wf, out = make()
    wf.error("line one\nline two: 100%", title="Bad: input, really")
    assert out.getvalue() == ("::error title=Bad%3A input%2C really::line one%0Aline two: 100%25\n")


def test_annotations_and_debug() -> None:
    wf, out = make()
    wf.warning("w")
    wf.notice("n", title="T")
    wf.debug("d")
    assert out.getvalue().splitlines() == ["::warning::w", "::notice title=T::n", "::debug::d"]


def test_group_closes_even_on_error() -> None:
    wf, out = make()
    with pytest.raises(RuntimeError), wf.group("Renting: 2 pods"):
        wf.info("inside")
        raise RuntimeError
    assert out.getvalue().splitlines() == ["::group::Renting: 2 pods", "inside", "::endgroup::"]


def test_info_cannot_issue_workflow_commands() -> None:
    wf, out = make()
    wf.info("  ::add-mask::x\n::set-output name=a::b\nplain :: text")
    assert out.getvalue().splitlines() == [
        "|   ::add-mask::x",
        "| ::set-output name=a::b",
        "plain :: text",
    ]


# --- masking ----------------------------------------------------------------------


def test_mask_is_announced_before_the_value_is_ever_printed() -> None:
    wf, out = make()
    wf.add_mask(SECRET)
    wf.info(f"key={SECRET}")
    wf.error(f"failed with {SECRET}", title=f"t {SECRET}")
    lines = out.getvalue().splitlines()
    assert lines[0] == f"::add-mask::{SECRET}"
    assert SECRET not in "\n".join(lines[1:])
    assert lines[1] == "key=***"
    assert lines[2] == "::error title=t ***::failed with ***"


def test_masker_secrets_are_announced_through_the_workflow() -> None:
    wf, out = make()
    wf.masker.add("line-one-secret\nline-two-secret")
    announced = [
        line.removeprefix("::add-mask::")
        for line in out.getvalue().splitlines()
        if line.startswith("::add-mask::")
    ]
    assert set(announced) >= {"line-one-secret", "line-two-secret"}
    assert "line-one-secret%0Aline-two-secret" in announced


def test_a_mask_is_announced_once() -> None:
    wf, out = make()
    wf.add_mask(SECRET)
    wf.add_mask(SECRET)
    assert out.getvalue().count("::add-mask::") == 1


# --- outputs ----------------------------------------------------------------------


def test_outputs_round_trip_as_the_runner_reads_them(files: dict[str, str]) -> None:
    wf, out = make(files)
    wf.set_output("pod-id", "abc123,def456")
    wf.set_output("ssh-known-hosts", "[1.2.3.4]:22 ssh-ed25519 AAAA\n[1.2.3.5]:22 ssh-ed25519 BBBB")
    wf.set_output("pods", '[{"id": "abc123", "note": "a=b<<c"}]')
    wf.set_output("empty", "")
    text = Path(files["GITHUB_OUTPUT"]).read_text()
    expected = {
        "pod-id": "abc123,def456",
        "ssh-known-hosts": "[1.2.3.4]:22 ssh-ed25519 AAAA\n[1.2.3.5]:22 ssh-ed25519 BBBB",
        "pods": '[{"id": "abc123", "note": "a=b<<c"}]',
        "empty": "",
    }
    assert runner_parse(text) == expected
    assert parse_file_commands(text) == expected
    assert out.getvalue() == ""


def test_multiline_delimiters_are_random(files: dict[str, str]) -> None:
    wf, _ = make(files)
    wf.set_output("a", "1\n2")
    wf.set_output("b", "1\n2")
    heads = [line for line in Path(files["GITHUB_OUTPUT"]).read_text().splitlines() if "<<" in line]
    delimiters = {line.split("<<", 1)[1] for line in heads}
    assert len(delimiters) == 2
    assert all(d.startswith("ghadelimiter_") for d in delimiters)


def test_a_value_holding_the_delimiter_is_refused() -> None:
    with pytest.raises(ActionError, match="delimiter"):
        format_file_command("x", "a\nEOF\nb", "EOF")


def test_bad_output_names_are_refused() -> None:
    for name in ("", "a=b", "x<<y", "bad name", "1st"):
        with pytest.raises(ValueError):
            format_file_command(name, "v", "D")


def test_an_output_carrying_a_secret_is_refused(files: dict[str, str]) -> None:
    wf, _ = make(files)
    wf.add_mask(SECRET)
    with pytest.raises(ActionError, match="secret"):
        wf.set_output("ssh-command", f"ssh -i {SECRET} root@host")
    assert Path(files["GITHUB_OUTPUT"]).read_text() == ""


def test_outputs_in_actions_without_an_output_file_are_printed() -> None:
    wf, out = make()
    wf.set_output("ssh-host", "1.2.3.4")
    wf.set_output("pods", "a\nb")
    assert parse_file_commands(out.getvalue()) == {"ssh-host": "1.2.3.4", "pods": "a\nb"}


def test_outputs_in_a_terminal_are_a_table_at_the_end(tmp_path: Path) -> None:
    wf, out = terminal(tmp_path)
    wf.set_output("ssh-host", "1.2.3.4")
    wf.set_output("ssh-known-hosts", "[h]:1 ssh-ed25519 A\n[h]:2 ssh-ed25519 B")
    assert out.getvalue() == ""
    wf.finish()
    assert out.getvalue().splitlines() == [
        "Outputs:",
        "  ssh-host         1.2.3.4",
        "  ssh-known-hosts  [h]:1 ssh-ed25519 A",
        "                   [h]:2 ssh-ed25519 B",
    ]
    assert "=" not in out.getvalue()


def test_outputs_in_a_terminal_as_json_go_to_their_own_stream(tmp_path: Path) -> None:
    log, outputs = io.StringIO(), io.StringIO()
    wf = Workflow({"XDG_STATE_HOME": str(tmp_path)}, log, outputs_to=outputs, json_outputs=True)
    wf.info("Renting 1 pod(s)")
    wf.set_output("pod-id", "abc123")
    wf.finish()
    assert json.loads(outputs.getvalue()) == {"pod-id": "abc123"}
    assert log.getvalue() == "Renting 1 pod(s)\n"


# --- state ------------------------------------------------------------------------


def test_state_reaches_the_post_step_as_env(files: dict[str, str]) -> None:
    wf, _ = make(files)
    wf.save_state("pods", "abc123\ndef456")
    wf.save_state("outcome", "started")
    assert wf.state("outcome") == "started"  # this process sees what it saved
    saved = runner_parse(Path(files["GITHUB_STATE"]).read_text())
    # The runner turns each entry into STATE_<name> for the post step.
    post_env = {f"STATE_{k}": v for k, v in saved.items()}
    post, _ = make(post_env)
    assert post.state("pods") == "abc123\ndef456"
    assert post.state("outcome") == "started"
    assert post.state("missing") is None


def test_state_outside_actions_survives_to_the_next_command(tmp_path: Path) -> None:
    start, _ = terminal(tmp_path, GITHUB_RUN_ID="42")
    start.save_state("pods", "abc123\ndef456")
    start.save_state("tag", "rpsa-1")
    folder = tmp_path / "state" / "runpod-ssh-action"
    [state_file] = folder.iterdir()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    post, _ = terminal(tmp_path, GITHUB_RUN_ID="42")
    assert post.state("pods") == "abc123\ndef456"
    assert post.state("tag") == "rpsa-1"
    # A new step's state replaces the old one, as in Actions.
    again, _ = terminal(tmp_path, GITHUB_RUN_ID="42")
    again.save_state("tag", "rpsa-2")
    later, _ = terminal(tmp_path, GITHUB_RUN_ID="42")
    assert (later.state("tag"), later.state("pods")) == ("rpsa-2", None)
    other_run, _ = terminal(tmp_path, GITHUB_RUN_ID="43")
    assert other_run.state("tag") is None


def test_state_defaults_to_the_users_own_directory_never_tmp(tmp_path: Path) -> None:
    wf = Workflow({"HOME": str(tmp_path)}, io.StringIO())
    wf.save_state("pods", "abc123")
    assert (tmp_path / ".local/state/runpod-ssh-action/state-local.env").is_file()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o660])
def test_a_state_file_others_could_write_or_read_is_refused(tmp_path: Path, mode: int) -> None:
    start, _ = terminal(tmp_path)
    start.save_state("pods", "abc123")
    [state_file] = (tmp_path / "state" / "runpod-ssh-action").iterdir()
    state_file.chmod(mode)
    post, _ = terminal(tmp_path)
    with pytest.raises(ActionError, match=rf"mode {mode:04o}.*mode 0600"):
        post.state("pods")


def test_a_planted_link_is_not_followed(tmp_path: Path) -> None:
    folder = tmp_path / "state" / "runpod-ssh-action"
    folder.mkdir(parents=True, mode=0o700)
    planted = tmp_path / "planted.env"
    planted.write_text("pods=victim1\n")
    planted.chmod(0o600)
    (folder / "state-local.env").symlink_to(planted)
    post, _ = terminal(tmp_path)
    with pytest.raises(ActionError, match="not a link"):
        post.state("pods")


def test_a_state_directory_others_can_enter_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "state" / "runpod-ssh-action"
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    post, _ = terminal(tmp_path)
    with pytest.raises(ActionError, match=r"mode 0755.*mode 0700"):
        post.state("pods")


def test_a_state_file_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start, _ = terminal(tmp_path)
    start.save_state("pods", "abc123")
    real = os.getuid()
    # Another user's view: the same files, and a uid that does not own them.
    monkeypatch.setattr(os, "getuid", lambda: real + 1)
    post, _ = terminal(tmp_path)
    with pytest.raises(ActionError, match=f"uid {real}"):
        post.state("pods")


# --- summary ----------------------------------------------------------------------


def test_summary_appends_and_redacts(files: dict[str, str]) -> None:
    wf, _ = make(files)
    wf.add_mask(SECRET)
    wf.summary("## Pods")
    wf.summary(f"key {SECRET}\n")
    assert Path(files["GITHUB_STEP_SUMMARY"]).read_text() == "## Pods\nkey ***\n"


def test_summary_is_capped_at_one_mebibyte(files: dict[str, str]) -> None:
    path = Path(files["GITHUB_STEP_SUMMARY"])
    path.write_bytes(b"x" * (SUMMARY_LIMIT - 1000))
    wf, _ = make(files)
    wf.summary("é" * 5000)  # two bytes each: the cut must not split one
    data = path.read_bytes()
    assert len(data) <= SUMMARY_LIMIT
    text = data.decode("utf-8")
    assert text.endswith(SUMMARY_TRUNCATED)
    assert "é" in text
    wf.summary("more")
    assert path.read_bytes() == data


def test_summary_that_fits_is_not_truncated(files: dict[str, str]) -> None:
    path = Path(files["GITHUB_STEP_SUMMARY"])
    path.write_bytes(b"x" * (SUMMARY_LIMIT - 10))
    wf, _ = make(files)
    wf.summary("12345678")
    assert path.read_bytes().endswith(b"12345678\n")
    assert len(path.read_bytes()) == SUMMARY_LIMIT - 1


def test_summary_in_actions_without_a_summary_file_is_printed() -> None:
    wf, out = make()
    wf.summary("## Pods\n| a | b |")
    assert out.getvalue() == "## Pods\n| a | b |\n"


def test_summary_in_a_terminal_is_plain_text(tmp_path: Path) -> None:
    wf, out = terminal(tmp_path)
    wf.summary("## 🛑 Stopped\n\n**Why:** `x` \\[y\\]\n```mermaid\ngantt\n```\n| a | b |")
    assert out.getvalue() == "🛑 Stopped\n\nWhy: x [y]\n| a | b |\n"


def test_a_terminal_gets_no_workflow_commands_and_never_a_secret(tmp_path: Path) -> None:
    wf, out = terminal(tmp_path)
    wf.add_mask(SECRET)
    wf.masker.add("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\n-----END")
    with wf.group("Renting 1 pod(s)"):
        wf.info(f"key {SECRET}")
        wf.notice("ready")
    wf.warning("careful", title="T")
    wf.error("failed", title="runpod-ssh-action start failed")
    wf.debug("hidden")
    assert out.getvalue().splitlines() == [
        "== Renting 1 pod(s)",
        "key ***",
        "ready",
        "warning: careful",
        "error: failed",
    ]


def test_markdown_text_is_inert() -> None:
    assert markdown_text("[x](http://e) <b>*y*</b>\nz") == (
        "\\[x\\]\\(http://e\\) \\<b\\>\\*y\\*\\</b\\> z"
    )


# --- misc -------------------------------------------------------------------------


def test_debug_flag() -> None:
    assert Workflow({"RUNNER_DEBUG": "1"}, io.StringIO()).is_debug
    assert not Workflow({}, io.StringIO()).is_debug


def test_parse_file_commands_rejects_what_the_runner_rejects() -> None:
    with pytest.raises(ValueError):
        parse_file_commands("no equals sign\n")
    with pytest.raises(ValueError):
        parse_file_commands("a<<EOF\nnever closed\n")


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_files_left_for_later_steps_go_to_the_runners_user(tmp_path: Path) -> None:
    temp = tmp_path / "runner_temp"
    temp.mkdir()
    os.chown(temp, 1234, 2345)
    key = temp / "id_ed25519"
    key.write_text("secret")
    key.chmod(0o600)
    workflow = Workflow({"RUNNER_TEMP": str(temp)}, io.StringIO())
    workflow.hand_over(key, temp / "missing")
    assert (key.stat().st_uid, key.stat().st_gid) == (1234, 2345)
    assert key.stat().st_mode & 0o777 == 0o600


# --- where files for later steps go (actions/runner ContainerActionHandler.cs) ---------


def test_a_current_runner_mounts_runner_temp_so_the_key_stays_there() -> None:
    shared = shared_files({"RUNNER_TEMP": "/github/runner_temp", "HOME": "/github/home"})
    assert shared == SharedFiles(Path("/github/runner_temp"), "$RUNNER_TEMP")
    assert shared.host_view("ssh -i /github/runner_temp/a/id_ed25519") == (
        "ssh -i $RUNNER_TEMP/a/id_ed25519"
    )


def test_a_runner_before_2_331_leaves_runner_temp_unmounted_so_home_is_used() -> None:
    # The variable keeps the host's path, which the container does not have; HOME is
    # the host's $RUNNER_TEMP/_github_home, mounted by every version.
    env = {"RUNNER_TEMP": "/home/runner/work/_temp", "HOME": "/github/home"}
    shared = shared_files(env)
    assert shared == SharedFiles(Path("/github/home"), "$RUNNER_TEMP/_github_home")
    assert shared.host_view("/github/home/runpod-ssh-action/t/known_hosts") == (
        "$RUNNER_TEMP/_github_home/runpod-ssh-action/t/known_hosts"
    )


def test_outside_a_container_the_temp_dir_is_the_hosts_own(tmp_path: Path) -> None:
    shared = shared_files({"RUNNER_TEMP": str(tmp_path), "HOME": "/root"})
    assert shared == SharedFiles(tmp_path, str(tmp_path))
    assert shared.host_view(f"{tmp_path}/k") == f"{tmp_path}/k"


def test_an_unknown_container_layout_fails_instead_of_naming_a_missing_file() -> None:
    with pytest.raises(ActionError, match="RUNNER_TEMP=/somewhere/_temp"):
        shared_files({"RUNNER_TEMP": "/somewhere/_temp", "HOME": "/github/elsewhere"})


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_on_an_older_runner_files_go_to_the_owner_of_the_shared_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "github_home"
    home.mkdir()
    os.chown(home, 1234, 2345)
    monkeypatch.setattr(workflow_module, "CONTAINER_HOME", str(home))
    key = home / "id_ed25519"
    key.write_text("secret")
    workflow = Workflow(
        {"RUNNER_TEMP": "/home/runner/work/_temp", "HOME": str(home)}, io.StringIO()
    )
    workflow.hand_over(key)
    assert (key.stat().st_uid, key.stat().st_gid) == (1234, 2345)
