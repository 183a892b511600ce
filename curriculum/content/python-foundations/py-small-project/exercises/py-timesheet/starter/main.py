# Press Run (or type: python3 main.py) for a timesheet summary.
from timesheet import parse_time, shift_hours, week_total, hours_by_day, weekly_pay

shifts = [
    ("Monday", "09:00", "17:30"),
    ("Tuesday", "09:00", "17:30"),
    ("Wednesday", "12:00", "20:15"),
    ("Thursday", "09:00", "17:30"),
    ("Friday", "22:00", "06:00"),
    ("Saturday", "10:00", "14:00"),
]
rate = 17.5

for day, start, end in shifts:
    print(f"{day:<10} {start}-{end}  {shift_hours(start, end)} hours")
print("Hours by day:", hours_by_day(shifts))
print("Total hours: ", week_total(shifts))
print("Pay:         ", weekly_pay(shifts, rate))

print()
print("A mistyped time:")
try:
    parse_time("9.30")
    print("  '9.30' was accepted (it should not be)")
except ValueError as error:
    print("  refused:", error)
