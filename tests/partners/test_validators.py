"""Names on one line: they end up in mail subjects and headers (SPEC "Mail is never lost")."""

import pytest
from django.core.exceptions import ValidationError

from licensing.models import Infrastructure, License
from partners.models import Contact, Opportunity, Partner, Region
from partners.validators import LINE_BREAK, no_line_breaks

# Every character Python ends a line on, not only \n and \r: a mail client or a header
# folder may honour any of them.
LINE_BREAKS = [
    "\n",
    "\r",
    "\r\n",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x85",
    "\u2028",
    "\u2029",
]


@pytest.mark.parametrize("brk", LINE_BREAKS, ids=repr)
@pytest.mark.parametrize("where", ["inside", "at the end", "at the start"])
def test_no_line_breaks_refuses_every_line_break(brk, where):
    value = {"inside": f"A{brk}B", "at the end": f"AB{brk}", "at the start": f"{brk}AB"}[where]
    with pytest.raises(ValidationError) as error:
        no_line_breaks(value)
    assert error.value.messages == [LINE_BREAK]


@pytest.mark.parametrize("value", ["", "O'Brien & Sons", "Zürich\tAG", "  spaced  out  "])
def test_no_line_breaks_accepts_one_line(value):
    no_line_breaks(value)


# The single-line names and addresses a mail's subject or headers are made of.
NAME_FIELDS = [
    (Region, "name"),
    (Partner, "name"),
    (Contact, "name"),
    (Opportunity, "prospect_name"),
    (License, "licensee_name"),
    (Infrastructure, "name"),
    (Infrastructure, "customer_name"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "field"), NAME_FIELDS, ids=[f"{m.__name__}.{f}" for m, f in NAME_FIELDS]
)
def test_each_name_field_refuses_a_line_break_where_it_is_entered(model, field):
    # full_clean is what the admin's model forms run: the error lands on the field.
    with pytest.raises(ValidationError) as error:
        model(**{field: "O'Brien\nBcc: everyone@example.com"}).full_clean()
    assert error.value.message_dict[field] == [LINE_BREAK]

    with pytest.raises(ValidationError) as error:
        model(**{field: "O'Brien & Sons"}).full_clean()  # other fields are missing, not this
    assert field not in error.value.message_dict


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["a@x.com\nBcc: b@y.com", "a@x.com\n", "a@x.com\r\nBcc: b@y.com"])
def test_a_contact_email_with_a_line_break_is_refused_by_its_email_validator(email):
    with pytest.raises(ValidationError) as error:
        Contact(email=email).full_clean()
    assert "email" in error.value.message_dict
