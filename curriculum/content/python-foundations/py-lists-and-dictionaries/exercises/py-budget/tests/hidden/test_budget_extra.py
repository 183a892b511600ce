from budget import monthly_total, biggest_expense, count_over, weeks_to_save


def test_rounds_the_total_to_cents():
    assert monthly_total([0.1, 0.2]) == 0.3


def test_handles_an_empty_month_when_looking_for_the_biggest():
    assert biggest_expense([]) is None


def test_does_not_count_an_expense_equal_to_the_limit():
    assert count_over([40, 40.01, 39.99], 40) == 1


def test_needs_no_weeks_for_a_goal_of_zero():
    assert weeks_to_save(0, 25) == 0


def test_handles_a_goal_reached_exactly():
    assert weeks_to_save(120, 40) == 3
