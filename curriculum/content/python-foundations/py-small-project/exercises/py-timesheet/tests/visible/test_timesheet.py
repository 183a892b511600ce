import pytest

from timesheet import parse_time, shift_hours, week_total, hours_by_day, weekly_pay


def test_turns_a_time_into_minutes_since_midnight():
    assert parse_time("09:30") == 570


def test_reads_a_time_with_a_one_digit_hour():
    assert parse_time("7:05") == 425


def test_refuses_an_hour_that_does_not_exist():
    with pytest.raises(ValueError):
        parse_time("25:00")


def test_works_out_a_day_shift():
    assert shift_hours("09:00", "17:30") == 8.5


def test_works_out_a_night_shift_past_midnight():
    assert shift_hours("22:00", "06:00") == 8


def test_adds_up_the_week():
    shifts = [("Monday", "09:00", "17:30"), ("Tuesday", "09:00", "17:30"), ("Wednesday", "12:00", "20:15")]
    assert week_total(shifts) == 25.25


def test_adds_up_hours_per_day():
    shifts = [("Monday", "06:00", "10:00"), ("Monday", "14:00", "18:30"), ("Friday", "22:00", "02:00")]
    assert hours_by_day(shifts) == {"Monday": 8.5, "Friday": 4.0}


def test_pays_overtime_over_forty_hours():
    shifts = [(day, "08:00", "17:00") for day in ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]]
    assert weekly_pay(shifts, 20) == 950
