"""Keeping an eye on a month of expenses. Each function must RETURN its result."""


def monthly_total(expenses):
    total = 0
    for amount in expenses:
        total += amount
    return round(total, 2)


def biggest_expense(expenses):
    if not expenses:
        return None
    biggest = expenses[0]
    for amount in expenses:
        if amount > biggest:
            biggest = amount
    return biggest


def count_over(expenses, limit):
    count = 0
    for amount in expenses:
        if amount > limit:
            count += 1
    return count


def weeks_to_save(goal, per_week):
    saved = 0
    weeks = 0
    while saved < goal:
        saved += per_week
        weeks += 1
    return weeks
