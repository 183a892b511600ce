// Shipping prices. Each function must RETURN its result.

export function shippingCost(weightKg, isExpress) {
  // TODO: 5 up to 1 kg, 9 up to 5 kg, then 9 + 2 for every started kg over 5.
  // TODO: express costs twice as much.
  return 5;
}

export function qualifiesForFreeShipping(orderTotal) {
  // TODO: true for orders of 50 or more
  return false;
}
