# A tip calculator.
# Reads three lines: the bill, the tip percent, and the number of people.
# Use plain input() with nothing inside the brackets.

bill = float(input())
percent = float(input())
people = int(input())

# TODO: work out the tip, the total, and what each person pays
tip = 0
total = 0
each = 0

print(f"Tip: ${tip:.2f}")
print(f"Total: ${total:.2f}")
print(f"Each person pays: ${each:.2f}")
