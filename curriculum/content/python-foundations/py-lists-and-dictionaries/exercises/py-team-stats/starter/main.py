# Press Run (or type: python3 main.py) for a season summary.
from stats import average, best_game, games_with_at_least, running_totals

points = [12, 18, 9, 22, 15, 27, 11, 19]

print("Points per game:", average(points))
print("Best game: game", best_game(points))
print("Games with 15 or more:", games_with_at_least(points, 15))
print("Season total after each game:", running_totals(points))
