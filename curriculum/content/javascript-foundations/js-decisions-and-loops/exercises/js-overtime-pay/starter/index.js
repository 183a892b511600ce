// Press Run (or type: node index.js) to see a week of pay for a few people.
import { weeklyPay, isFullTime, shiftType } from "./overtime.js";

const staff = [
  { name: "Dana", hours: 44, rate: 18, start: 6 },
  { name: "Lee", hours: 22, rate: 16, start: 14 },
  { name: "Omar", hours: 40, rate: 21, start: 22 },
];

for (const person of staff) {
  const kind = isFullTime(person.hours) ? "full time" : "part time";
  console.log(`${person.name}: ${weeklyPay(person.hours, person.rate)} (${kind}, ${shiftType(person.start)} shift)`);
}
