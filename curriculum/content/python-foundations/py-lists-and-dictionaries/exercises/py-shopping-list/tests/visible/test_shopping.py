from shopping import scale, combine, to_buy, shopping_lines

PANCAKES = {"flour": 200, "milk": 300, "eggs": 2}
BREAD = {"flour": 500, "yeast": 7, "salt": 10}


def test_scales_a_recipe_up():
    assert scale({"flour": 200, "eggs": 2}, 3) == {"flour": 600, "eggs": 6}


def test_combines_two_recipes():
    assert combine([PANCAKES, BREAD]) == {"flour": 700, "milk": 300, "eggs": 2, "yeast": 7, "salt": 10}


def test_works_out_what_to_buy():
    assert to_buy({"flour": 700, "milk": 300, "eggs": 2}, {"flour": 1000, "eggs": 1}) == {"milk": 300, "eggs": 1}


def test_writes_sorted_shopping_lines():
    assert shopping_lines({"milk": 300, "eggs": 1}) == ["eggs: 1", "milk: 300"]
