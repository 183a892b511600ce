from budget import monthly_total, biggest_expense, count_over, weeks_to_save


def test_adds_up_a_month_of_expenses():
    assert monthly_total([650, 85.40, 42.15, 32.85, 12.99]) == 823.39


def test_a_month_without_expenses_costs_nothing():
    assert monthly_total([]) == 0


def test_finds_the_biggest_expense():
    assert biggest_expense([85.40, 650, 42.15]) == 650


def test_counts_expenses_over_a_limit():
    assert count_over([650, 85.40, 42.15, 32.85], 40) == 3


def test_works_out_weeks_to_save():
    assert weeks_to_save(300, 40) == 8
