# A stock report. Reads lines like "nails,40" until a line "END", then prints a report.
# Use plain input() with nothing inside the brackets.

stock = {}

while True:
    line = input()
    if line == "END":
        break
    name, quantity = line.split(",")
    name = name.strip().lower()
    stock[name] = stock.get(name, 0) + int(quantity.strip())

print("STOCK REPORT")
for name in sorted(stock):
    quantity = stock[name]
    if quantity < 5:
        print(f"{name}: {quantity} (LOW)")
    else:
        print(f"{name}: {quantity}")
print(f"Items: {len(stock)}")
print(f"Total units: {sum(stock.values())}")
