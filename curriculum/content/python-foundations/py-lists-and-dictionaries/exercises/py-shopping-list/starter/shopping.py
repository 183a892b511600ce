"""Turning recipes into a shopping list. Each function must RETURN its result."""


def scale(recipe, factor):
    # TODO: a NEW dictionary with every amount multiplied by factor
    return recipe


def combine(recipes):
    # TODO: one dictionary with the total of each ingredient over all the recipes
    return {}


def to_buy(needed, pantry):
    # TODO: how much more of each ingredient must be bought (leave out what the pantry covers)
    return needed


def shopping_lines(items):
    # TODO: lines like "eggs: 1", sorted A to Z
    return []
