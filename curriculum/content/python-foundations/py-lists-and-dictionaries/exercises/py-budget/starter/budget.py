"""Keeping an eye on a month of expenses. Each function must RETURN its result."""


def monthly_total(expenses):
    # TODO: add up all the expenses and round to cents (0 for an empty list)
    return 0


def biggest_expense(expenses):
    # TODO: the largest expense, or None for an empty list
    return None


def count_over(expenses, limit):
    # TODO: how many expenses are more than limit?
    return 0


def weeks_to_save(goal, per_week):
    # TODO: how many weeks of saving per_week until the savings reach at least goal?
    return 0
