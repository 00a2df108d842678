"""Fuzzing POST /api/ipp/deployment-check with Hypothesis: whatever the body, never a 500,
and a call without a valid token never writes a row.

Bodies: random JSON (strings full of NUL, lone surrogates, quotes and brackets), question-
shaped objects around a real application and target, random bytes, valid bodies with bytes
spliced in, and nesting from 1 to 60,000 levels; each sent with the valid token, a wrong
one or none. FUZZ_EXAMPLES sets the number of examples (default 600).
"""

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipp import services
from ipp.models import DeploymentCheck

pytestmark = pytest.mark.django_db

URL = "/api/ipp/deployment-check"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "600"))
# Every answer the API may give; a 500 is not one of them.
ANSWERS = {200, 400, 401, 403, 404, 429}

# Characters that broke or could break the API, mixed into otherwise random text.
NASTY = ["\x00", "\ud800", "\udbff", "\udc00", "\udfff", "\ufeff", "\u2028", '"', "\\", "[", "{"]
text = st.text(st.sampled_from(NASTY) | st.characters(), max_size=80)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | text
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=24,
)


def encode(value, ascii_only: bool) -> bytes:
    # ensure_ascii writes a lone surrogate as the escape "\ud800"; without it the surrogate
    # itself goes out, as the bytes ED A0 80 (what a broken client would send).
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def deep(draw) -> bytes:
    depth = draw(st.integers(min_value=1, max_value=60_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    nested = opener * depth + "1" + closer * draw(st.sampled_from([depth, 0, depth // 2]))
    if draw(st.booleans()):
        nested = '{"application": ' + nested + ', "target": "T"}'
    return nested.encode()


@st.composite
def questions(draw, application_key: str, registration_id: str) -> bytes:
    """Objects shaped like the question, so the fuzzing reaches the 403, 404 and 200 paths."""
    body = {
        "application": draw(st.just(application_key) | text | json_values),
        "target": draw(st.sampled_from([registration_id, registration_id.lower()]) | text),
    }
    body.update(draw(st.dictionaries(text, json_values, max_size=2)))
    return encode(body, draw(st.booleans()))


@st.composite
def spliced(draw, valid: bytes) -> bytes:
    at = draw(st.integers(min_value=0, max_value=len(valid)))
    return valid[:at] + draw(st.binary(min_size=1, max_size=8)) + valid[at:]


@pytest.fixture
def token(target, licensing_user):
    return services.issue_token(target, by=licensing_user)


@pytest.fixture
def fuzz_settings(settings):
    # The fuzzing is about the answers, not the limits: no example is cut short by a 429.
    settings.IPP_API_RATE_LIMIT = 10**9
    settings.IPP_API_ANONYMOUS_RATE_LIMIT = 10**9


def run_fuzz(client, token, app, target):
    valid = json.dumps({"application": str(app.key), "target": target.registration_id}).encode()
    question = questions(str(app.key), target.registration_id)
    bodies = st.one_of(
        json_values.flatmap(lambda value: st.builds(encode, st.just(value), st.booleans())),
        question,
        question,  # twice: half the bodies look like a question
        st.binary(max_size=300),
        spliced(valid),
        deep(),
    )
    seen = {"examples": 0, "statuses": {}}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=bodies, who=st.sampled_from(["token", "wrong token", "no token"]))
    def ask(body, who):
        headers = {}
        if who == "token":
            headers["Authorization"] = f"Token {token}"
        elif who == "wrong token":
            headers["Authorization"] = "Token not-a-valid-token"
        rows = DeploymentCheck.objects.count()

        response = client.post(URL, data=body, content_type="application/json", headers=headers)

        assert response.status_code in ANSWERS, (response.status_code, body)
        assert set(response.json()) in ({"error"}, {"allowed", "reason"})
        # One row per call with the valid token; none for anyone else.
        assert DeploymentCheck.objects.count() == rows + (who == "token")
        seen["examples"] += 1
        statuses = seen["statuses"]
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    ask()
    return seen


@pytest.mark.usefixtures("fuzz_settings")
def test_no_body_is_a_500_and_no_call_without_a_token_writes_a_row(client, token, app, target):
    seen = run_fuzz(client, token, app, target)

    print(f"\nfuzzed {seen['examples']} bodies; answers: {sorted(seen['statuses'].items())}")
    assert seen["examples"] >= min(EXAMPLES, 100)
    # The examples reached past validation too: refusals of every kind, and answers.
    assert {400, 401}.issubset(seen["statuses"])
