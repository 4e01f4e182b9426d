"""`redact` skips a pattern when the text lacks the words it needs (BEARER_WORDS, NAMED_WORDS): the
result must be exactly what the patterns alone give, case tricks included."""

import pytest

from medgap.redact import BEARER, MARK, NAMED, URL_CREDENTIALS, known_secrets, redact

TEXTS = [
    "答案：A",
    "根据患者症状，" * 80 + "答案：C",
    "Authorization: Bearer sk-live-1234567890abcdef",
    "authorization: bearer%20abcdef123456",
    "Basic dXNlcjpwYXNzd29yZA== was sent",
    "Basıc dXNlcjpwYXNzd29yZA==",  # dotless i: IGNORECASE matches it to "i"
    "BASİC dXNlcjpwYXNzd29yZA==",  # dotted capital I
    "token abcdef12345 in a header",
    "paſſword=hunter2hunter2",  # long s matches "s" under IGNORECASE
    "my_secret: 'shh-it-is-secret'",
    '{"api_key": "sk-abc123456789"}',
    "OPENAI_API_KEY=sk-proj-abcdefghij; next",
    "ACCESS-TOKEN = abc.def.ghi",
    "Kelvin sign: api_\u212aey=abcdef123456",
    "auth_token:xyz987654321 then 答案：B",
    "see https://user:pw@example.com/v1 and http://example.com/ok",
    "病人说 passwd=的值 123456",
    "api_key_env=OPENAI_API_KEY",
    "",
]


def patterns_only(text: str) -> str:
    """What redact did before it looked for the words first: every pattern on every text."""
    text = URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{MARK}@", text)
    text = BEARER.sub(lambda m: f"{m['word']}{MARK}", text)
    return NAMED.sub(lambda m: m["name"] + (m["value"] if m["value"] == MARK else MARK), text)


@pytest.mark.parametrize("text", TEXTS)
def test_skipping_patterns_changes_nothing(text: str) -> None:
    assert redact(text, []) == patterns_only(text)


def test_secrets_read_once_are_removed_like_secrets_read_per_call(monkeypatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-0123456789")
    answer = "根据患者症状，" * 50 + "我用的是 tok-0123456789，答案：A"
    assert "tok-0123456789" not in redact(answer, known_secrets())
    assert redact(answer, known_secrets()) == redact(answer)
