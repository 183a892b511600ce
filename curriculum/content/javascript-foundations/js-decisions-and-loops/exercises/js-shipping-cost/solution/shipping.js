// Shipping prices. Each function must RETURN its result.

export function shippingCost(weightKg, isExpress) {
  let price;
  if (weightKg <= 1) {
    price = 5;
  } else if (weightKg <= 5) {
    price = 9;
  } else {
    const extraKilos = Math.ceil(weightKg - 5);
    price = 9 + extraKilos * 2;
  }
  if (isExpress) {
    price = price * 2;
  }
  return price;
}

export function qualifiesForFreeShipping(orderTotal) {
  return orderTotal >= 50;
}
