from datetime import date

from licensing.calendar import add_business_days, business_days_between


def test_deadline_skips_the_weekend():
    friday = date(2026, 11, 20)
    assert add_business_days(friday, 3, "PT") == date(2026, 11, 25)  # Mon, Tue, Wed


def test_deadline_skips_a_public_holiday_of_the_partner_country():
    # 8 December (Immaculate Conception) is a holiday in Portugal, not in the UK.
    friday = date(2026, 12, 4)
    assert add_business_days(friday, 3, "PT") == date(2026, 12, 10)
    assert add_business_days(friday, 3, "GB") == date(2026, 12, 9)


def test_deadline_skips_thanksgiving_for_a_us_partner():
    wednesday = date(2026, 11, 25)
    assert add_business_days(wednesday, 3, "US") == date(2026, 12, 1)
    assert add_business_days(wednesday, 3, "PT") == date(2026, 11, 30)


def test_country_unknown_to_the_holiday_calendar_counts_weekends_only():
    assert add_business_days(date(2026, 12, 31), 1, "ZZ") == date(2027, 1, 1)


def test_business_days_late_counts_only_working_days():
    due = date(2026, 11, 20)  # a Friday
    assert business_days_between(due, date(2026, 11, 23), "PT") == 1
    assert business_days_between(due, date(2026, 11, 22), "PT") == 0
