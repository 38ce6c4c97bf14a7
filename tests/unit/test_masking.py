"""Secrets are announced before use and scrubbed from every text and log structure."""

from __future__ import annotations

from runpod_ssh_action.masking import FIELD_MASK, MASK, Masker


def test_each_secret_is_announced_once_with_each_of_its_lines() -> None:
    announced: list[str] = []
    masker = Masker(announce=announced.append)
    masker.add("line-one-secret\nline-two-secret")
    masker.add("line-one-secret\nline-two-secret")
    assert sorted(announced) == sorted(
        ["line-one-secret\nline-two-secret", "line-one-secret", "line-two-secret"]
    )


def test_pem_armour_and_short_values_are_not_masks() -> None:
    announced: list[str] = []
    masker = Masker(announce=announced.append)
    masker.add("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END PRIVATE KEY-----")
    masker.add("abc")
    assert "-----BEGIN PRIVATE KEY-----" not in announced
    assert "MIIEvQIBADANBgkqhkiG9w0B" in announced
    assert "abc" not in announced


def test_redact_replaces_longer_secrets_first() -> None:
    masker = Masker()
    masker.add("token-123")
    masker.add("token-123456")
    assert masker.redact("a token-123456 b token-123") == f"a {MASK} b {MASK}"


def test_structures_mask_secret_fields_by_name_and_registered_values_anywhere() -> None:
    masker = Masker()
    masker.add("rpa_KEYKEYKEY")
    record = {
        "headers": {"Authorization": "Bearer rpa_KEYKEYKEY", "Accept": "json"},
        "variables": {
            "input": {"name": "pod", "env": [{"key": "PUBLIC_KEY", "value": "ssh-ed25519 AAA"}]}
        },
        "note": "sent rpa_KEYKEYKEY",
        "private_key": "x",
    }
    shown = masker.redact_structure(record)
    assert shown["headers"] == {"Authorization": FIELD_MASK, "Accept": "json"}
    assert shown["variables"]["input"]["env"] == [{"key": "PUBLIC_KEY", "value": FIELD_MASK}]
    assert shown["note"] == f"sent {MASK}"
    assert shown["private_key"] == FIELD_MASK


def test_a_value_masked_by_its_producer_keeps_its_hint() -> None:
    masker = Masker()
    shown = masker.redact_structure({"Authorization": f"Bearer {FIELD_MASK}"})
    assert shown == {"Authorization": f"Bearer {FIELD_MASK}"}
