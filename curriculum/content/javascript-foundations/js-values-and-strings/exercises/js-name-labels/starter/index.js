// Press Run (or type: node index.js) to print some badges.
import { fullName, initials, labelName, cleanUp } from "./names.js";

const people = [
  ["Maria", "Lopez"],
  ["  john ", "smith"],
  ["Aisha", "Bello  "],
];

for (const [first, last] of people) {
  const f = cleanUp(first);
  const l = cleanUp(last);
  console.log(`[ ${fullName(f, l)} ]  initials: ${initials(f, l)}  label: ${labelName(f, l)}`);
}
