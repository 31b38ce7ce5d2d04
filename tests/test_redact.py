"""The redactor: every secret shape in the corpus disappears, code still parses, and text
that holds no secret is left exactly as it was."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from semcache_magic.task import PLACEHOLDER, redact, warm_redaction

DATA = Path(__file__).parent / "data"
SECRETS = [json.loads(line) for line in (DATA / "secrets_corpus.jsonl").read_text().splitlines()]
NON_SECRETS = [json.loads(line)
               for line in (DATA / "non_secrets_corpus.jsonl").read_text().splitlines()]


def secrets_of(item: dict[str, Any]) -> list[str]:
    return [item["secret"], *item.get("more", [])]


def parses(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


def test_corpus_is_large_and_varied() -> None:
    assert len(SECRETS) >= 40 and len(NON_SECRETS) >= 30
    assert {item["where"] for item in SECRETS} == {"code", "task", "error", "notebook"}
    assert len({item["id"] for item in SECRETS + NON_SECRETS}) == len(SECRETS) + len(NON_SECRETS)


@pytest.mark.parametrize("item", SECRETS, ids=[item["id"] for item in SECRETS])
def test_secret_disappears(item: dict[str, Any]) -> None:
    result = redact(item["text"])
    assert result.changed and PLACEHOLDER in result.text
    for secret in secrets_of(item):
        assert secret in item["text"]
        # No 8-character piece of the secret may survive (unless it also stands elsewhere).
        fragments = {secret[i : i + 8] for i in range(max(len(secret) - 7, 1))}
        elsewhere = item["text"].replace(secret, "")
        left = [f for f in fragments if f in result.text and f not in elsewhere]
        assert not left, f"fragments of {secret!r} remain: {left} in {result.text!r}"


@pytest.mark.parametrize("item", SECRETS, ids=[item["id"] for item in SECRETS])
def test_redacted_code_still_parses(item: dict[str, Any]) -> None:
    if parses(item["text"]):
        assert parses(redact(item["text"]).text)


@pytest.mark.parametrize("item", SECRETS + NON_SECRETS, ids=lambda i: i["id"])
def test_redaction_is_idempotent(item: dict[str, Any]) -> None:
    once = redact(item["text"]).text
    again = redact(once)
    assert again.text == once and not again.found


@pytest.mark.parametrize("item", NON_SECRETS, ids=[item["id"] for item in NON_SECRETS])
def test_non_secret_is_unchanged(item: dict[str, Any]) -> None:
    result = redact(item["text"])
    assert result.text == item["text"] and not result.found


def test_found_names_the_kind() -> None:
    assert redact('os.environ["AWS_SECRET_ACCESS_KEY"] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"'
                  ).found == ["aws-secret-key"]
    assert redact("ValueError: login failed for password 'hunter2'").found == ["password"]
    assert redact('h = {"Authorization": "Bearer abcdef1234567890abcdef"}').found == [
        "authorization-header"
    ]


@pytest.mark.parametrize(
    "code",
    [
        "token = os.environ['GITHUB_TOKEN']",
        "max_tokens = 100\ntoken_count = 5",
        "print('the password field is required')",
        "password = ''",
        "Count the tokens in 'hello world' and print it",
        "password = getpass.getpass()",
    ],
)
def test_code_reading_secrets_from_elsewhere_is_left_alone(code: str) -> None:
    result = redact(code)
    assert result.text == code and not result.found


def test_a_quoted_secret_stays_a_string() -> None:
    result = redact("client = Client(api_key='sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345')")
    assert result.text == "client = Client(api_key='<redacted>')"


def test_warming_is_harmless_and_repeatable() -> None:
    warm_redaction()
    warm_redaction()
    assert redact("password = 'Tr0ub4dor&3'").text == "password = '<redacted>'"


def test_without_detect_secrets_our_rules_still_cover_the_corpus() -> None:
    """The library is optional at run time: our own rules alone still remove every secret.
    Run in a child process where importing detect_secrets fails, as it would uninstalled."""
    script = (
        "import json, sys\n"
        "sys.modules['detect_secrets'] = None\n"
        "from semcache_magic.task import redact\n"
        "items = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()]\n"
        "missed = [i['id'] for i in items if any(s in redact(i['text']).text\n"
        "          for s in [i['secret'], *i.get('more', [])])]\n"
        "print(json.dumps(missed))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(DATA / "secrets_corpus.jsonl")],
                          capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(done.stdout) == []
