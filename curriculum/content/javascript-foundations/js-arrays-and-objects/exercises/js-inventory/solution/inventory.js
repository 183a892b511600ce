// A shop's stock list: an array of { name, quantity, price } objects.
// Each function must RETURN its result.

export function stockValue(items) {
  let value = 0;
  for (const item of items) {
    value += item.quantity * item.price;
  }
  return value;
}

export function lowStock(items, threshold) {
  const names = [];
  for (const item of items) {
    if (item.quantity < threshold) {
      names.push(item.name);
    }
  }
  return names;
}

export function findItem(items, name) {
  for (const item of items) {
    if (item.name.toLowerCase() === name.toLowerCase()) {
      return item;
    }
  }
  return undefined;
}

export function restock(items, name, amount) {
  const item = findItem(items, name);
  if (item === undefined) {
    return -1;
  }
  item.quantity += amount;
  return item.quantity;
}
