from stats import average, best_game, games_with_at_least, running_totals


def test_handles_a_season_with_no_games():
    assert average([]) == 0
    assert best_game([]) is None
    assert running_totals([]) == []


def test_gives_the_earlier_game_on_a_tie():
    assert best_game([9, 20, 14, 20]) == 2


def test_finds_a_best_game_at_the_very_end():
    assert best_game([3, 5, 30]) == 3


def test_lists_no_games_when_the_target_is_never_reached():
    assert games_with_at_least([3, 5, 8], 10) == []
