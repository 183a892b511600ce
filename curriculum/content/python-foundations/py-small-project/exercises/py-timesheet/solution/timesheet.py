"""A timesheet: shifts in, hours and pay out. Each function must RETURN its result.

A shift is a tuple: (day, start, end), for example ("Monday", "09:00", "17:30").
"""


def parse_time(text):
    parts = text.strip().split(":")
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not a time like 09:30")
    hours_text, minutes_text = parts
    if not hours_text.isdigit() or not minutes_text.isdigit() or len(hours_text) > 2 or len(minutes_text) != 2:
        raise ValueError(f"{text!r} is not a time like 09:30")
    hours = int(hours_text)
    minutes = int(minutes_text)
    if hours > 23 or minutes > 59:
        raise ValueError(f"{text!r} is not a time of day")
    return hours * 60 + minutes


def shift_hours(start, end):
    start_minutes = parse_time(start)
    end_minutes = parse_time(end)
    if end_minutes < start_minutes:
        end_minutes += 24 * 60
    return (end_minutes - start_minutes) / 60


def week_total(shifts):
    total = 0
    for day, start, end in shifts:
        total += shift_hours(start, end)
    return round(total, 2)


def hours_by_day(shifts):
    days = {}
    for day, start, end in shifts:
        days[day] = days.get(day, 0) + shift_hours(start, end)
    return {day: round(hours, 2) for day, hours in days.items()}


def weekly_pay(shifts, rate):
    hours = week_total(shifts)
    if hours <= 40:
        return round(hours * rate, 2)
    return round(40 * rate + (hours - 40) * rate * 1.5, 2)
