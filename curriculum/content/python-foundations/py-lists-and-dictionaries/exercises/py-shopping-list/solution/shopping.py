"""Turning recipes into a shopping list. Each function must RETURN its result."""


def scale(recipe, factor):
    scaled = {}
    for name, amount in recipe.items():
        scaled[name] = amount * factor
    return scaled


def combine(recipes):
    totals = {}
    for recipe in recipes:
        for name, amount in recipe.items():
            totals[name] = totals.get(name, 0) + amount
    return totals


def to_buy(needed, pantry):
    result = {}
    for name, amount in needed.items():
        missing = amount - pantry.get(name, 0)
        if missing > 0:
            result[name] = missing
    return result


def shopping_lines(items):
    return [f"{name}: {items[name]}" for name in sorted(items)]
