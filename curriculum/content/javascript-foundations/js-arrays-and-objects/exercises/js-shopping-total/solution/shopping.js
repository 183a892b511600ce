// Questions about a shopping list. Each function must RETURN its result.

export function total(prices) {
  let sum = 0;
  for (const price of prices) {
    sum += price;
  }
  return sum;
}

export function countOver(prices, limit) {
  let count = 0;
  for (const price of prices) {
    if (price > limit) {
      count++;
    }
  }
  return count;
}

export function mostExpensive(prices) {
  if (prices.length === 0) {
    return undefined;
  }
  let best = prices[0];
  for (const price of prices) {
    if (price > best) {
      best = price;
    }
  }
  return best;
}

export function withTax(prices, taxRate) {
  const result = [];
  for (const price of prices) {
    result.push(Math.round(price * (1 + taxRate) * 100) / 100);
  }
  return result;
}
