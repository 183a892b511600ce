// A shop's stock list: an array of { name, quantity, price } objects.
// Each function must RETURN its result.

export function stockValue(items) {
  // TODO: add up quantity * price for every item
  return 0;
}

export function lowStock(items, threshold) {
  // TODO: the names of the items whose quantity is below threshold
  return [];
}

export function findItem(items, name) {
  // TODO: the item with this name (capital letters do not matter), or undefined
  return undefined;
}

export function restock(items, name, amount) {
  // TODO: add amount to the item's quantity and return the new quantity; -1 if there is no such item
  return -1;
}
