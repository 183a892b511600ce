"""Statistics for one player's season. Each function must RETURN its result."""


def average(points):
    # TODO: points per game, rounded to 1 decimal place (0 for an empty season)
    return 0


def best_game(points):
    # TODO: the game number (starting at 1) of the highest score; None for an empty season
    return 1


def games_with_at_least(points, target):
    # TODO: the game numbers where the player scored target points or more
    return []


def running_totals(points):
    # TODO: the total so far after each game
    return points
