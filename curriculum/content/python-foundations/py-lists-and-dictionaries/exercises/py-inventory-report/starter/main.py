# A stock report. Reads lines like "nails,40" until a line "END", then prints a report.
# Use plain input() with nothing inside the brackets.

stock = {}

while True:
    line = input()
    if line == "END":
        break
    # TODO: split the line into a name and a quantity, tidy them up,
    #       and add the quantity to stock[name]

print("STOCK REPORT")
# TODO: one line per item, A to Z, like "hammer: 5", with " (LOW)" for fewer than 5
print(f"Items: {len(stock)}")
print("Total units: 0")  # TODO: add up all the quantities
