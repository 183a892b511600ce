// Press Run (or type: node index.js) to compare payment plans for a 2400 loan at 1% a month.
import { monthsToPayOff } from "./loan.js";

for (const payment of [50, 100, 200, 400]) {
  const months = monthsToPayOff(2400, payment, 0.01);
  if (months === -1) {
    console.log(`Paying ${payment} a month: never paid off!`);
  } else {
    console.log(`Paying ${payment} a month: ${months} months`);
  }
}
