// Questions about a shopping list. Each function must RETURN its result.

export function total(prices) {
  // TODO: add up all the prices (an empty list costs 0)
  return 0;
}

export function countOver(prices, limit) {
  // TODO: how many prices are more than limit?
  return 0;
}

export function mostExpensive(prices) {
  // TODO: the highest price, or undefined for an empty list
  return prices[0];
}

export function withTax(prices, taxRate) {
  // TODO: a NEW array with tax added to each price, rounded to cents
  return prices;
}
