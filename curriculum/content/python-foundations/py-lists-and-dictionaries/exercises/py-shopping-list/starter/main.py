# Press Run (or type: python3 main.py) to print a shopping list for the week.
from shopping import scale, combine, to_buy, shopping_lines

pancakes = {"flour": 200, "milk": 300, "eggs": 2}
bread = {"flour": 500, "yeast": 7, "salt": 10}
omelette = {"eggs": 3, "milk": 50, "cheese": 40}

week = [scale(pancakes, 2), bread, scale(omelette, 4)]
pantry = {"flour": 600, "eggs": 6, "salt": 500}

print("SHOPPING LIST")
for line in shopping_lines(to_buy(combine(week), pantry)):
    print("-", line)
