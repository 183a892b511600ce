"""Statistics for one player's season. Each function must RETURN its result."""


def average(points):
    if not points:
        return 0
    return round(sum(points) / len(points), 1)


def best_game(points):
    if not points:
        return None
    best = 0
    for i in range(1, len(points)):
        if points[i] > points[best]:
            best = i
    return best + 1


def games_with_at_least(points, target):
    games = []
    for number, score in enumerate(points, start=1):
        if score >= target:
            games.append(number)
    return games


def running_totals(points):
    totals = []
    total = 0
    for score in points:
        total += score
        totals.append(total)
    return totals
