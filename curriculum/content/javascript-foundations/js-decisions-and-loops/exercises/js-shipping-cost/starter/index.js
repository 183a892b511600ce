// Press Run (or type: node index.js) to print a table of shipping prices.
import { shippingCost, qualifiesForFreeShipping } from "./shipping.js";

console.log("weight  normal  express");
for (const weight of [0.5, 1, 2.5, 5, 5.2, 7, 12]) {
  console.log(`${weight} kg\t${shippingCost(weight, false)}\t${shippingCost(weight, true)}`);
}
console.log("Order of 49.99 ships free?", qualifiesForFreeShipping(49.99));
console.log("Order of 50 ships free?", qualifiesForFreeShipping(50));
