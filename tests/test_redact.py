"""Secrets never reach the store."""

from __future__ import annotations

import ast

import pytest

from semcache_magic.task import PLACEHOLDER, redact

SECRETS = [
    ('client = Anthropic(api_key="sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345")',
     "sk-ant-api03"),
    ('openai.api_key = "sk-proj-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"', "sk-proj-aaaa"),
    ("key_id = 'AKIAIOSFODNN7EXAMPLE'", "AKIAIOSFODNN7EXAMPLE"),
    ("aws_secret_access_key = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'", "wJalrXUtnFEMI"),
    ("gh = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789'", "ghp_abcdef"),
    ("headers = {'Authorization': 'Bearer abcdef1234567890abcdef'}", "abcdef1234567890"),
    ("password = 'hunter2'", "hunter2"),
    ('config = {"api_key": "abc123secret", "model": "x"}', "abc123secret"),
    ("conn = connect('postgresql://bob:s3cr3tpw@db.example.com:5432/sales')", "s3cr3tpw"),
    ("requests.get(url, auth_token='tok_live_12345')", "tok_live_12345"),
    ("KEY = '''-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----'''",
     "MIIEabc"),
]


@pytest.mark.parametrize(("code", "secret"), SECRETS)
def test_secrets_are_replaced_and_code_still_parses(code: str, secret: str) -> None:
    result = redact(code)
    assert secret not in result.text
    assert PLACEHOLDER in result.text
    assert result.found
    ast.parse(result.text)


@pytest.mark.parametrize(
    "code",
    [
        "token = os.environ['GITHUB_TOKEN']",
        "max_tokens = 100\ntoken_count = 5",
        "print('the password field is required')",
        "password = ''",
        "Count the tokens in 'hello world' and print it",
    ],
)
def test_non_secrets_are_left_alone(code: str) -> None:
    result = redact(code)
    assert result.text == code and not result.found


def test_secrets_in_prose_tasks_are_redacted() -> None:
    assert "hunter22" not in redact("Connect with password hunter22 and list tables").text


def test_redaction_is_idempotent() -> None:
    once = redact("password = 'hunter2'").text
    assert redact(once).text == once and not redact(once).found
