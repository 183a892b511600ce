# A tip calculator.
# Reads three lines: the bill, the tip percent, and the number of people.
# Use plain input() with nothing inside the brackets.

bill = float(input())
percent = float(input())
people = int(input())

tip = bill * percent / 100
total = bill + tip
each = total / people

print(f"Tip: ${tip:.2f}")
print(f"Total: ${total:.2f}")
print(f"Each person pays: ${each:.2f}")
