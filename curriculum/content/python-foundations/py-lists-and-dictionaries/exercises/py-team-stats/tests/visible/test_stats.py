from stats import average, best_game, games_with_at_least, running_totals


def test_works_out_points_per_game():
    assert average([12, 18, 9, 22, 15]) == 15.2


def test_rounds_points_per_game_to_one_decimal():
    assert average([10, 10, 11]) == 10.3


def test_finds_the_game_number_of_the_best_score():
    assert best_game([12, 18, 9, 22, 15]) == 4


def test_lists_the_games_at_or_above_a_target():
    assert games_with_at_least([12, 18, 9, 22, 15], 15) == [2, 4, 5]


def test_keeps_a_running_total():
    assert running_totals([12, 18, 9]) == [12, 30, 39]
