// Press Run (or type: node index.js) to print a pay slip.
import { grossPay, weeklyToYearly, roundToCents, formatMoney } from "./pay.js";

const hours = 37.5;
const rate = 16.85;
const weekly = roundToCents(grossPay(hours, rate));

console.log("PAY SLIP");
console.log("Hours worked:", hours);
console.log("Hourly rate: ", formatMoney(rate));
console.log("This week:   ", formatMoney(weekly));
console.log("Per year:    ", formatMoney(weeklyToYearly(weekly)));
