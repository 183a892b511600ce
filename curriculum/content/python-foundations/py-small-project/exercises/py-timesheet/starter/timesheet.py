"""A timesheet: shifts in, hours and pay out. Each function must RETURN its result.

A shift is a tuple: (day, start, end), for example ("Monday", "09:00", "17:30").
"""


def parse_time(text):
    # TODO: "09:30" -> 570 (minutes since midnight). Spaces around the time are fine.
    # TODO: raise ValueError for anything that is not a valid time (hours 0-23, minutes 00-59)
    return 0


def shift_hours(start, end):
    # TODO: hours between two times; if end is earlier than start, the shift ran past midnight
    return 0


def week_total(shifts):
    # TODO: all the hours of the week, rounded to 2 decimal places
    return 0


def hours_by_day(shifts):
    # TODO: {day: hours} for the days in the timesheet (add up several shifts on one day)
    return {}


def weekly_pay(shifts, rate):
    # TODO: the first 40 hours at rate, the rest at 1.5 * rate, rounded to cents
    return 0
