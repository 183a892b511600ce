// Planning savings. Each function must RETURN its result.

export function weeksToGoal(goal, perWeek) {
  let saved = 0;
  let weeks = 0;
  while (saved < goal) {
    saved += perWeek;
    weeks++;
  }
  return weeks;
}

export function savingsTable(perWeek, weeks) {
  let table = "";
  for (let week = 1; week <= weeks; week++) {
    if (week > 1) {
      table += "\n";
    }
    table += `Week ${week}: ${perWeek * week}`;
  }
  return table;
}
