import pytest

from timesheet import parse_time, shift_hours, week_total, hours_by_day, weekly_pay


def test_refuses_a_time_written_in_words():
    with pytest.raises(ValueError):
        parse_time("nine")


def test_refuses_minutes_that_do_not_exist():
    with pytest.raises(ValueError):
        parse_time("12:60")


def test_accepts_spaces_around_a_time():
    assert parse_time(" 08:15 ") == 495


def test_works_out_a_shift_with_quarter_hours():
    assert shift_hours("08:45", "12:00") == 3.25


def test_an_empty_timesheet_has_no_hours_or_pay():
    assert week_total([]) == 0
    assert hours_by_day([]) == {}
    assert weekly_pay([], 18) == 0


def test_pays_a_short_week_without_overtime():
    shifts = [("Monday", "09:00", "17:00"), ("Tuesday", "09:00", "17:00"), ("Wednesday", "09:00", "13:30")]
    assert weekly_pay(shifts, 15.5) == 317.75
