"""Input hygiene for every request: query strings and form fields are checked before any
view, filter or form reads them.

A NUL byte in a list filter (`?state__exact=%00`) or an autocomplete term was a 500 on
PostgreSQL, which refuses NUL in text; a search term of 100,000 characters was a 500 on
SQLite ("LIKE or GLOB pattern too complex"). Rather than teach every filter, search and
form of the admin, this layer answers 400 for a name or value that holds a NUL byte or a
lone surrogate (partners.hygiene.text_problem), that is not UTF-8 (bytes a browser never
sends, `%ED%A0%80` among them: the UTF-8 form of a surrogate), or that is absurdly long.

It is generic: every path, every method. JSON bodies are left to the view that parses them
(the deployment-check API runs partners.hygiene.json_body and answers in JSON).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from urllib.parse import unquote_to_bytes

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from .hygiene import text_problem

logger = logging.getLogger(__name__)

# Filters, searches and the admin's links stay far below this; gunicorn refuses a request
# line over 4,094 bytes anyway, and SQLite cannot search for a term over 50,000 bytes.
MAX_QUERY_VALUE = 2_000
# The longest text an admin form takes (notes, a policy's description) is a few pages.
MAX_FORM_VALUE = 100_000

NOT_UTF8 = "Bad request: a parameter is not UTF-8 text."
TOO_LONG = "Bad request: a parameter is longer than {limit} characters."

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def _raw_pairs(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The (name, value) pairs of a query string or a urlencoded body, percent-decoded but
    still bytes: Django's own parsing replaces what is not UTF-8 without a word."""
    for field in data.split(b"&"):
        if field:
            name, _, value = field.partition(b"=")
            yield (
                unquote_to_bytes(name.replace(b"+", b" ")),
                unquote_to_bytes(value.replace(b"+", b" ")),
            )


def _wsgi_bytes(text: str) -> bytes:
    try:
        return text.encode("iso-8859-1")  # WSGI hands the raw bytes over as Latin-1
    except UnicodeEncodeError:  # ASGI has decoded them as UTF-8 already
        return text.encode("utf-8", "surrogatepass")


def fields_problem(fields: Iterable[tuple[bytes | str, bytes | str]], limit: int) -> str | None:
    """Why one of these names or values cannot be taken as text, or None."""
    for field in fields:
        for text in field:
            if isinstance(text, bytes):
                try:
                    # Strict: the UTF-8 form of a surrogate (ED A0 80) is refused here too.
                    text = text.decode("utf-8")
                except UnicodeDecodeError:
                    return NOT_UTF8
            if len(text) > limit:
                return TOO_LONG.format(limit=limit)
            problem = text_problem(text)
            if problem:
                return f"Bad request: {problem}"
    return None


def request_problem(request: HttpRequest) -> str | None:
    """What is wrong with the request's query string or form fields, or None."""
    query = _raw_pairs(_wsgi_bytes(request.META.get("QUERY_STRING", "")))
    problem = fields_problem(query, MAX_QUERY_VALUE)
    if problem or request.method in ("GET", "HEAD", "OPTIONS"):
        return problem
    if request.content_type == URLENCODED:
        return fields_problem(_raw_pairs(request.body), MAX_FORM_VALUE)
    if request.content_type == MULTIPART:
        # The body first: once POST is parsed from the stream, a view reading request.body
        # (an API parsing its own) would fail. The desk takes no file uploads, and Django
        # keeps a body over DATA_UPLOAD_MAX_MEMORY_SIZE out (400).
        request.body  # noqa: B018
        pairs = ((name, value) for name, values in request.POST.lists() for value in values)
        return fields_problem(pairs, MAX_FORM_VALUE)
    return None


class InputHygieneMiddleware:
    """Answers 400, before anything else reads the input, when request_problem finds one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = request_problem(request)
        if problem:
            # %r: the path is the client's, and may hold a line break.
            logger.warning("refused %s %r: %s", request.method, request.path, problem)
            return HttpResponseBadRequest(problem, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
